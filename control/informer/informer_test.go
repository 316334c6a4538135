package informer_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

var configMapsGVR = corev1.SchemeGroupVersion.WithResource("configmaps")

// env is a registry on a one-member store with namespaces "a" and "b".
type env struct {
	kv  *raftstore.Store
	reg *registry.Registry
	cms *registry.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := storetest.New(t, 1, nil)
	kv := c.Nodes[0].Store()
	opts := resources.DefaultOptions(kv)
	opts.Logger = slog.New(slog.DiscardHandler)
	res, err := resources.All(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{kv: kv, reg: registry.NewRegistry(kv, res)}
	e.cms = e.reg.Store(configMapsGVR)
	for _, ns := range []string{"a", "b"} {
		if _, err := e.reg.Namespaces().Create(t.Context(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, registry.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) create(t *testing.T, ns, name, value string) *corev1.ConfigMap {
	t.Helper()
	out, err := e.cms.Create(context.Background(), ns, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": value},
	}, registry.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s/%s: %v", ns, name, err)
	}
	return out.(*corev1.ConfigMap)
}

func (e *env) set(t *testing.T, ns, name, value string) {
	t.Helper()
	_, _, err := e.cms.Update(context.Background(), ns, name, func(cur runtime.Object) (runtime.Object, error) {
		cm := cur.(*corev1.ConfigMap)
		cm.Data = map[string]string{"v": value}
		return cm, nil
	}, registry.UpdateOptions{})
	if err != nil {
		t.Fatalf("update %s/%s: %v", ns, name, err)
	}
}

func (e *env) delete(t *testing.T, ns, name string) {
	t.Helper()
	if _, _, err := e.cms.Delete(context.Background(), ns, name, nil); err != nil {
		t.Fatalf("delete %s/%s: %v", ns, name, err)
	}
}

// compact discards the store's history up to now.
func (e *env) compact(t *testing.T) {
	t.Helper()
	if _, err := e.kv.Compact(context.Background(), &pb.CompactionRequest{Revision: e.kv.Rev()}); err != nil {
		t.Fatalf("compact: %v", err)
	}
}

// recorder writes what a handler sees as lines such as "update a/x 1->2".
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func describe(obj any) string {
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		return fmt.Sprintf("%s/%s %s", o.Namespace, o.Name, o.Data["v"])
	case *metav1.PartialObjectMetadata:
		return fmt.Sprintf("%s/%s", o.Namespace, o.Name)
	case cache.DeletedFinalStateUnknown:
		return "unknown " + describe(o.Obj)
	}
	return fmt.Sprintf("%T", obj)
}

func (r *recorder) add(line string) {
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.mu.Unlock()
}

func (r *recorder) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { r.add("add " + describe(obj)) },
		UpdateFunc: func(old, cur any) {
			line := "update " + describe(old) + " -> " + describe(cur)
			if o, ok := old.(metav1.Object); ok && o.GetUID() != cur.(metav1.Object).GetUID() {
				line += " (new uid)"
			}
			r.add(line)
		},
		DeleteFunc: func(obj any) { r.add("delete " + describe(obj)) },
	}
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

// waitFor waits until the recorder has seen want (in order), then resets it.
func (r *recorder) waitFor(t *testing.T, want ...string) {
	t.Helper()
	r.wait(t, false, want)
}

// waitForSet is waitFor in any order: a list (or relist) is delivered in
// the order of the informer's cache, a map.
func (r *recorder) waitForSet(t *testing.T, want ...string) {
	t.Helper()
	r.wait(t, true, want)
}

func (r *recorder) wait(t *testing.T, sorted bool, want []string) {
	t.Helper()
	if sorted {
		want = slices.Sorted(slices.Values(want))
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := r.snapshot()
		if sorted {
			slices.Sort(got)
		}
		if slices.Equal(got, want) {
			r.mu.Lock()
			r.lines = nil
			r.mu.Unlock()
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("handler saw\n  %q\nwant\n  %q", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run starts inf until the test ends and waits for handler h to sync.
func run(t *testing.T, inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
	t.Helper()
	reg, err := inf.AddEventHandler(h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); inf.RunWithContext(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if !cache.WaitFor(wctx, "", reg.HasSyncedChecker()) {
		t.Fatal("informer did not sync within 10s")
	}
}

func keys(t *testing.T, idx cache.Indexer, namespace string) []string {
	t.Helper()
	objs, err := idx.ByIndex(cache.NamespaceIndex, namespace)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, obj := range objs {
		out = append(out, describe(obj))
	}
	slices.Sort(out)
	return out
}

func TestInformerSeesChangesInOrder(t *testing.T) {
	e := newEnv(t)
	e.create(t, "a", "before", "0")
	inf := informer.New(e.cms, 0)
	rec := &recorder{}
	run(t, inf, rec.handler())
	rec.waitFor(t, "add a/before 0")

	e.create(t, "a", "x", "1")
	e.set(t, "a", "x", "2")
	e.create(t, "b", "y", "1")
	e.delete(t, "a", "x")
	e.delete(t, "a", "before")
	rec.waitFor(t, "add a/x 1", "update a/x 1 -> a/x 2", "add b/y 1", "delete a/x 2", "delete a/before 0")

	if got, want := keys(t, inf.GetIndexer(), "b"), []string{"b/y 1"}; !slices.Equal(got, want) {
		t.Errorf("namespace index b = %q, want %q", got, want)
	}
	if got := keys(t, inf.GetIndexer(), "a"); len(got) != 0 {
		t.Errorf("namespace index a = %q, want empty", got)
	}
}

// gatedListWatch passes list and watch to the store, can hold new watches
// back and cut the current one, and records the codes of watch errors.
type gatedListWatch struct {
	lw *cache.ListWatch

	mu       sync.Mutex
	gate     chan struct{} // nil: open
	current  watch.Interface
	expired  int // 410 error events seen
	initials int // watch-lists (sendInitialEvents) started
}

func (g *gatedListWatch) listWatch() *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: g.lw.ListWithContextFunc,
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			g.mu.Lock()
			gate := g.gate
			g.mu.Unlock()
			if gate != nil {
				select {
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			w, err := g.lw.WatchFuncWithContext(ctx, opts)
			if err != nil {
				return nil, err
			}
			w = watch.Filter(w, func(ev watch.Event) (watch.Event, bool) {
				if st, ok := ev.Object.(*metav1.Status); ok && ev.Type == watch.Error && st.Code == 410 {
					g.mu.Lock()
					g.expired++
					g.mu.Unlock()
				}
				return ev, true
			})
			g.mu.Lock()
			g.current = w
			if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
				g.initials++
			}
			g.mu.Unlock()
			return w, nil
		},
	}
}

// cut holds new watches back and stops the current one.
func (g *gatedListWatch) cut() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	w := g.current
	g.mu.Unlock()
	w.Stop()
}

func (g *gatedListWatch) open() {
	g.mu.Lock()
	close(g.gate)
	g.gate = nil
	g.mu.Unlock()
}

func TestInformerRelistsAfterCompaction(t *testing.T) {
	e := newEnv(t)
	e.create(t, "a", "kept", "1")
	e.create(t, "a", "changed", "1")
	e.create(t, "a", "deleted", "1")
	e.create(t, "b", "recreated", "1")
	g := &gatedListWatch{lw: informer.NewListWatch(e.cms, "")}
	inf := cache.NewSharedIndexInformer(g.listWatch(), &corev1.ConfigMap{}, 0, informer.Indexers())
	rec := &recorder{}
	run(t, inf, rec.handler())
	rec.waitForSet(t, "add a/changed 1", "add a/deleted 1", "add a/kept 1", "add b/recreated 1")
	// An event, so that the watch does not end as "very short" (which
	// relists at once) but resumes from its resourceVersion.
	e.set(t, "a", "kept", "2")
	rec.waitFor(t, "update a/kept 1 -> a/kept 2")

	g.cut()
	e.set(t, "a", "changed", "2")
	e.delete(t, "a", "deleted")
	e.delete(t, "b", "recreated")
	e.create(t, "b", "recreated", "2")
	e.create(t, "b", "added", "1")
	e.compact(t)
	g.open()

	// The resumed watch fails with 410; the reflector lists again and
	// turns the difference into events: objects gone meanwhile are
	// DeletedFinalStateUnknown, a recreated one an update with a new UID.
	rec.waitForSet(t,
		"add b/added 1",
		"delete unknown a/deleted 1",
		"update a/changed 1 -> a/changed 2",
		"update a/kept 2 -> a/kept 2",
		"update b/recreated 1 -> b/recreated 2 (new uid)",
	)
	g.mu.Lock()
	expired, initials := g.expired, g.initials
	g.mu.Unlock()
	if expired != 1 || initials != 2 {
		t.Errorf("saw %d 410 watch errors and %d watch-lists, want 1 and 2 (the start and the relist)", expired, initials)
	}
	if got, want := keys(t, inf.GetIndexer(), "a"), []string{"a/changed 2", "a/kept 2"}; !slices.Equal(got, want) {
		t.Errorf("cache of a = %q, want %q", got, want)
	}
	if got, want := keys(t, inf.GetIndexer(), "b"), []string{"b/added 1", "b/recreated 2"}; !slices.Equal(got, want) {
		t.Errorf("cache of b = %q, want %q", got, want)
	}
}

// TestListWatchPastCompaction checks the adapters' answers that make the
// reflector list again: 410 Expired.
func TestListWatchPastCompaction(t *testing.T) {
	e := newEnv(t)
	old := e.create(t, "a", "x", "1").ResourceVersion
	e.set(t, "a", "x", "2")
	e.set(t, "a", "x", "3") // compacted past the first revision a watch from old needs
	e.compact(t)
	ctx := t.Context()
	lw := informer.NewListWatch(e.cms, "")
	names := informer.NewNamesListWatch(e.cms).(cache.ListerWatcherWithContext)

	_, err := lw.ListWithContext(ctx, metav1.ListOptions{ResourceVersion: old, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("exact list at a compacted revision: %v, want 410", err)
	}
	for name, watcher := range map[string]cache.WatcherWithContext{"objects": lw, "names": names} {
		w, err := watcher.WatchWithContext(ctx, metav1.ListOptions{ResourceVersion: old})
		if err != nil {
			t.Fatalf("%s: watch from %s: %v", name, old, err)
		}
		select {
		case ev := <-w.ResultChan():
			if st, ok := ev.Object.(*metav1.Status); ev.Type != watch.Error || !ok || st.Code != 410 {
				t.Errorf("%s: watch from a compacted revision: %s %v, want ERROR 410", name, ev.Type, ev.Object)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: no event from a watch at a compacted revision", name)
		}
		w.Stop()
	}
}

func TestNamesListWatch(t *testing.T) {
	e := newEnv(t)
	e.create(t, "a", "x", "1")
	ctx := t.Context()
	names := informer.NewNamesListWatch(e.cms).(cache.ListerWatcherWithContext)
	list, err := names.ListWithContext(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := list.(*metav1.PartialObjectMetadataList)
	if len(l.Items) != 1 || l.Items[0].Namespace != "a" || l.Items[0].Name != "x" || l.Items[0].UID != "" || l.ResourceVersion == "" {
		t.Fatalf("names list = %+v, want only a/x, no uid, with a resourceVersion", l)
	}
	for _, opts := range []metav1.ListOptions{
		{},
		{ResourceVersion: "0"},
		{ResourceVersion: l.ResourceVersion, LabelSelector: "k=v"},
		{ResourceVersion: l.ResourceVersion, SendInitialEvents: new(true), AllowWatchBookmarks: true, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
	} {
		if _, err := names.WatchWithContext(ctx, opts); !apierrors.IsBadRequest(err) {
			t.Errorf("names watch with %+v: %v, want 400", opts, err)
		}
	}
	w, err := names.WatchWithContext(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	e.delete(t, "a", "x")
	select {
	case ev := <-w.ResultChan():
		if m, ok := ev.Object.(*metav1.PartialObjectMetadata); ev.Type != watch.Deleted || !ok || m.Namespace != "a" || m.Name != "x" {
			t.Errorf("names watch event %s %v, want DELETED a/x", ev.Type, ev.Object)
		}
	case <-time.After(5 * time.Second):
		t.Error("no event from the names watch")
	}
}

func TestFactory(t *testing.T) {
	e := newEnv(t)
	e.create(t, "a", "x", "1")
	e.create(t, "b", "y", "1")
	f := informer.NewFactory(e.reg, 0, slog.New(slog.DiscardHandler))
	inf, err := f.For(configMapsGVR)
	if err != nil {
		t.Fatal(err)
	}
	if again := f.ForStore(e.cms); again != inf {
		t.Error("ForStore of the same store returned another informer")
	}
	names := f.NamesFor(e.cms)
	if names == inf || f.NamesFor(e.cms) != names {
		t.Error("NamesFor is not one informer per store, apart from the full one")
	}
	if _, err := f.For(corev1.SchemeGroupVersion.WithResource("widgets")); err == nil {
		t.Error("For of a resource not served: no error")
	}

	ctx, cancel := context.WithCancel(context.Background())
	f.Start(ctx)
	t.Cleanup(func() { cancel(); f.Shutdown() }) // also when a check fails
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	if !f.WaitForCacheSync(wctx) {
		t.Fatal("factory did not sync within 10s")
	}
	wcancel()
	if got, want := keys(t, inf.GetIndexer(), "a"), []string{"a/x 1"}; !slices.Equal(got, want) {
		t.Errorf("full cache of a = %q, want %q", got, want)
	}
	if got, want := keys(t, names.GetIndexer(), "b"), []string{"b/y"}; !slices.Equal(got, want) {
		t.Errorf("names cache of b = %q, want %q", got, want)
	}

	// A names informer follows changes without decoding them.
	rec := &recorder{}
	if _, err := names.AddEventHandler(rec.handler()); err != nil {
		t.Fatal(err)
	}
	rec.waitForSet(t, "add a/x", "add b/y")
	e.delete(t, "a", "x")
	e.create(t, "a", "z", "1")
	rec.waitFor(t, "delete a/x", "add a/z")

	cancel()
	done := make(chan struct{})
	go func() { f.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the context ended")
	}
	// After Shutdown, Start starts nothing (a started informer would also
	// fail the goroutine check at cleanup).
	late := f.NamesFor(e.reg.Namespaces())
	f.Start(context.Background())
	time.Sleep(100 * time.Millisecond)
	if late.LastSyncResourceVersion() != "" {
		t.Error("an informer started after Shutdown")
	}
}
