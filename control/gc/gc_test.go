package gc_test

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-sh/skiff/control/gc"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

const ns = "default"

var (
	deploymentsGVR = appsv1.SchemeGroupVersion.WithResource("deployments")
	replicaSetsGVR = appsv1.SchemeGroupVersion.WithResource("replicasets")
	podsGVR        = corev1.SchemeGroupVersion.WithResource("pods")
	configMapsGVR  = corev1.SchemeGroupVersion.WithResource("configmaps")
)

// newRegistry returns a registry on a one-member store, with the default
// namespace.
func newRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	c := storetest.New(t, 1, nil)
	opts := resources.DefaultOptions(c.Nodes[0].Store())
	opts.Logger = slog.New(slog.DiscardHandler)
	res, err := resources.All(opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.NewRegistry(c.Nodes[0].Store(), res)
	if _, err := reg.Namespaces().Create(t.Context(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return reg
}

// start runs a collector until the test ends, and checks that it stops.
func start(t *testing.T, reg *registry.Registry) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() { done <- gc.New(reg, logger).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after the context ended", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after the context ended")
		}
	})
}

func store(t *testing.T, reg *registry.Registry, gvr schema.GroupVersionResource) *registry.Store {
	t.Helper()
	s := reg.Store(gvr)
	if s == nil {
		t.Fatalf("no store for %v", gvr)
	}
	return s
}

func create(t *testing.T, reg *registry.Registry, gvr schema.GroupVersionResource, obj runtime.Object) metav1.Object {
	t.Helper()
	out, err := store(t, reg, gvr).Create(context.Background(), ns, obj, registry.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s: %v", gvr.Resource, err)
	}
	return out.(metav1.Object)
}

func ownerRef(gvr schema.GroupVersionResource, kind string, owner metav1.Object, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: gvr.GroupVersion().String(), Kind: kind, Name: owner.GetName(), UID: owner.GetUID(),
		Controller: new(true), BlockOwnerDeletion: new(block),
	}
}

func configMap(name string, fins []string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: fins, OwnerReferences: owners}}
}

func cmRef(owner metav1.Object, block bool) metav1.OwnerReference {
	return ownerRef(configMapsGVR, "ConfigMap", owner, block)
}

// get returns the named object, or nil once it is gone.
func get(t *testing.T, reg *registry.Registry, gvr schema.GroupVersionResource, name string) metav1.Object {
	t.Helper()
	obj, err := store(t, reg, gvr).Get(context.Background(), ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s %s: %v", gvr.Resource, name, err)
	}
	return obj.(metav1.Object)
}

// eventually waits for cond, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func gone(t *testing.T, reg *registry.Registry, gvr schema.GroupVersionResource, names ...string) func() bool {
	return func() bool {
		for _, n := range names {
			if get(t, reg, gvr, n) != nil {
				return false
			}
		}
		return true
	}
}

func del(t *testing.T, reg *registry.Registry, gvr schema.GroupVersionResource, name string, policy metav1.DeletionPropagation) (metav1.Object, bool) {
	t.Helper()
	obj, isGone, err := store(t, reg, gvr).Delete(context.Background(), ns, name, &metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil {
		t.Fatalf("delete %s %s: %v", gvr.Resource, name, err)
	}
	return obj.(metav1.Object), isGone
}

// deletions records the revision at which each object of the given
// resources is deleted, from now on.
type deletions struct {
	watches map[schema.GroupVersionResource]watch.Interface
	seen    map[string]int64 // "resource/name" → revision
}

func watchDeletions(t *testing.T, reg *registry.Registry, gvrs ...schema.GroupVersionResource) *deletions {
	t.Helper()
	d := &deletions{watches: map[schema.GroupVersionResource]watch.Interface{}, seen: map[string]int64{}}
	for _, gvr := range gvrs {
		list, err := store(t, reg, gvr).List(context.Background(), ns, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		lm, _ := meta.ListAccessor(list)
		w, err := store(t, reg, gvr).Watch(context.Background(), ns, metav1.ListOptions{ResourceVersion: lm.GetResourceVersion()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		d.watches[gvr] = w
	}
	return d
}

// revision waits for the deletion of the named object and returns its
// revision.
func (d *deletions) revision(t *testing.T, gvr schema.GroupVersionResource, name string) int64 {
	t.Helper()
	key := gvr.Resource + "/" + name
	timeout := time.After(10 * time.Second)
	for {
		if rev, ok := d.seen[key]; ok {
			return rev
		}
		select {
		case ev := <-d.watches[gvr].ResultChan():
			if m := ev.Object.(metav1.Object); ev.Type == watch.Deleted {
				d.seen[gvr.Resource+"/"+m.GetName()], _ = strconv.ParseInt(m.GetResourceVersion(), 10, 64)
			}
		case <-timeout:
			t.Fatalf("no deletion of %s", key)
		}
	}
}

// chain creates Deployment d → ReplicaSet rs → Pods p1, p2, every
// reference blocking its owner's deletion.
func chain(t *testing.T, reg *registry.Registry) (d, rs metav1.Object) {
	t.Helper()
	labels := map[string]string{"app": "d"}
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec()}
	selector := &metav1.LabelSelector{MatchLabels: labels}
	d = create(t, reg, deploymentsGVR, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DeploymentSpec{Selector: selector, Template: template}})
	rs = create(t, reg, replicaSetsGVR, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name: "rs", OwnerReferences: []metav1.OwnerReference{ownerRef(deploymentsGVR, "Deployment", d, true)},
	}, Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: template}})
	for _, p := range []string{"p1", "p2"} {
		create(t, reg, podsGVR, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name: p, Labels: labels, OwnerReferences: []metav1.OwnerReference{ownerRef(replicaSetsGVR, "ReplicaSet", rs, true)},
		}, Spec: podSpec()})
	}
	return d, rs
}

func TestPropagationPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy metav1.DeletionPropagation
		// finalizer the deployment keeps while the collector works, if any.
		finalizer string
	}{
		{metav1.DeletePropagationBackground, ""},
		{metav1.DeletePropagationForeground, metav1.FinalizerDeleteDependents},
		{metav1.DeletePropagationOrphan, metav1.FinalizerOrphanDependents},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			reg := newRegistry(t)
			start(t, reg)
			_, rs := chain(t, reg)
			dels := watchDeletions(t, reg, deploymentsGVR, replicaSetsGVR, podsGVR)

			obj, isGone := del(t, reg, deploymentsGVR, "d", tc.policy)
			if isGone != (tc.finalizer == "") || (tc.finalizer != "" && !slices.Contains(obj.GetFinalizers(), tc.finalizer)) {
				t.Fatalf("delete: gone %v, finalizers %v; want the %q finalizer", isGone, obj.GetFinalizers(), tc.finalizer)
			}
			eventually(t, "the deployment to go", gone(t, reg, deploymentsGVR, "d"))

			switch tc.policy {
			case metav1.DeletePropagationBackground:
				eventually(t, "the replica set and pods to go", func() bool {
					return gone(t, reg, replicaSetsGVR, "rs")() && gone(t, reg, podsGVR, "p1", "p2")()
				})
			case metav1.DeletePropagationForeground:
				// The deployment went last: after its replica set, which went
				// after its pods.
				dRev := dels.revision(t, deploymentsGVR, "d")
				rsRev := dels.revision(t, replicaSetsGVR, "rs")
				for _, p := range []string{"p1", "p2"} {
					if pRev := dels.revision(t, podsGVR, p); pRev >= rsRev {
						t.Errorf("pod %s deleted at %d, after its replica set (%d)", p, pRev, rsRev)
					}
				}
				if rsRev >= dRev {
					t.Errorf("replica set deleted at %d, after its deployment (%d)", rsRev, dRev)
				}
			case metav1.DeletePropagationOrphan:
				got := get(t, reg, replicaSetsGVR, "rs")
				if got == nil || len(got.GetOwnerReferences()) != 0 {
					t.Fatalf("replica set after orphaning: %v, want it present without owner references", got)
				}
				for _, p := range []string{"p1", "p2"} {
					pod := get(t, reg, podsGVR, p)
					if pod == nil || len(pod.GetOwnerReferences()) != 1 || pod.GetOwnerReferences()[0].UID != rs.GetUID() {
						t.Errorf("pod %s after orphaning: %v, want it still owned by the replica set", p, pod)
					}
				}
			}
		})
	}
}

func TestForegroundWaitsOnlyForBlockingDependents(t *testing.T) {
	reg := newRegistry(t)
	start(t, reg)
	hold := []string{"example.com/hold"}
	owner := create(t, reg, configMapsGVR, configMap("owner", nil))
	create(t, reg, configMapsGVR, configMap("blocker", hold, cmRef(owner, true)))
	create(t, reg, configMapsGVR, configMap("bystander", hold, cmRef(owner, false)))

	del(t, reg, configMapsGVR, "owner", metav1.DeletePropagationForeground)
	eventually(t, "both dependents to be deleting", func() bool {
		for _, n := range []string{"blocker", "bystander"} {
			if m := get(t, reg, configMapsGVR, n); m == nil || m.GetDeletionTimestamp() == nil {
				return false
			}
		}
		return true
	})
	if get(t, reg, configMapsGVR, "owner") == nil {
		t.Fatal("the owner went while a blocking dependent remained")
	}
	release(t, reg, "blocker")
	eventually(t, "the owner to go once its blocking dependent went", gone(t, reg, configMapsGVR, "owner"))
	if get(t, reg, configMapsGVR, "bystander") == nil {
		t.Error("the non-blocking dependent is gone, want it kept by its finalizer")
	}
	release(t, reg, "bystander")
	eventually(t, "the non-blocking dependent to go", gone(t, reg, configMapsGVR, "bystander"))
}

// release removes the finalizers of a config map.
func release(t *testing.T, reg *registry.Registry, name string) {
	t.Helper()
	_, _, err := store(t, reg, configMapsGVR).Update(context.Background(), ns, name, func(cur runtime.Object) (runtime.Object, error) {
		cm := cur.(*corev1.ConfigMap)
		cm.Finalizers, cm.ResourceVersion = nil, ""
		return cm, nil
	}, registry.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDependentWithTwoOwnersLosesOneReference(t *testing.T) {
	reg := newRegistry(t)
	start(t, reg)
	a := create(t, reg, configMapsGVR, configMap("a", nil))
	b := create(t, reg, configMapsGVR, configMap("b", nil))
	refB := cmRef(b, true)
	refB.Controller = new(false) // only one owner may be the controller
	create(t, reg, configMapsGVR, configMap("dep", nil, cmRef(a, true), refB))

	del(t, reg, configMapsGVR, "a", metav1.DeletePropagationBackground)
	eventually(t, "the reference to a to be removed", func() bool {
		m := get(t, reg, configMapsGVR, "dep")
		return m == nil || len(m.GetOwnerReferences()) == 1
	})
	m := get(t, reg, configMapsGVR, "dep")
	if m == nil || m.GetOwnerReferences()[0].UID != b.GetUID() {
		t.Fatalf("dependent = %v, want it kept with its reference to b", m)
	}
	del(t, reg, configMapsGVR, "b", metav1.DeletePropagationBackground)
	eventually(t, "the dependent to go with its last owner", gone(t, reg, configMapsGVR, "dep"))
}

func TestRecreatedOwnerDoesNotSaveDependent(t *testing.T) {
	for _, tc := range []struct {
		name         string
		startedFirst bool
	}{
		{"collector running", true},
		{"collector started after", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry(t)
			if tc.startedFirst {
				start(t, reg)
			}
			old := create(t, reg, configMapsGVR, configMap("owner", nil))
			create(t, reg, configMapsGVR, configMap("dep", nil, cmRef(old, true)))
			// Delete the owner and recreate it at once: the collector may look
			// at the dependent before or after the new owner exists.
			del(t, reg, configMapsGVR, "owner", metav1.DeletePropagationBackground)
			renewed := create(t, reg, configMapsGVR, configMap("owner", nil))
			if renewed.GetUID() == old.GetUID() {
				t.Fatal("recreated owner has the old uid")
			}
			if !tc.startedFirst {
				start(t, reg)
			}
			eventually(t, "the dependent of the old owner to go", gone(t, reg, configMapsGVR, "dep"))
			if m := get(t, reg, configMapsGVR, "owner"); m == nil || m.GetUID() != renewed.GetUID() {
				t.Errorf("recreated owner = %v, want it untouched", m)
			}
		})
	}
}

func TestReferencesNotJudged(t *testing.T) {
	for _, tc := range []struct {
		name string
		ref  metav1.OwnerReference
	}{
		{"kind not served", metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "widget-uid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry(t)
			start(t, reg)
			missing := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "missing", UID: types.UID("never-existed")}
			create(t, reg, configMapsGVR, configMap("dep", nil, tc.ref, missing))
			// The dangling reference goes in the same look that kept the
			// object alive for the reference not judged.
			eventually(t, "the dangling reference to be removed", func() bool {
				m := get(t, reg, configMapsGVR, "dep")
				return m == nil || len(m.GetOwnerReferences()) == 1
			})
			m := get(t, reg, configMapsGVR, "dep")
			if m == nil || m.GetOwnerReferences()[0].Name != tc.ref.Name || m.GetOwnerReferences()[0].UID != tc.ref.UID {
				t.Fatalf("dependent = %v, want it kept with only the reference not judged", m)
			}
		})
	}
}

func TestRunReturnsWhenContextEnds(t *testing.T) {
	reg := newRegistry(t)
	run := func(ctx context.Context) <-chan error {
		done := make(chan error, 1)
		go func() { done <- gc.New(reg, nil).Run(ctx) }()
		return done
	}
	wait := func(done <-chan error) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}
	// Ended before it started.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wait(run(ctx))

	// Ended while working.
	ctx, cancel = context.WithCancel(context.Background())
	done := run(ctx)
	owner := create(t, reg, configMapsGVR, configMap("owner", nil))
	create(t, reg, configMapsGVR, configMap("dep", nil, cmRef(owner, true)))
	del(t, reg, configMapsGVR, "owner", metav1.DeletePropagationBackground)
	eventually(t, "the dependent to go", gone(t, reg, configMapsGVR, "dep"))
	cancel()
	wait(done)
	// storetest.New checks at cleanup that no goroutine was left behind.
}

// podSpec is the smallest valid pod spec.
func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27"}}}
}
