package server_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/control/server"
)

// member is one control node of an in-process cluster that can be stopped
// and started again from its data directory.
type member struct {
	cfg    server.Config
	cancel context.CancelFunc
	done   chan error
}

// startCluster starts n members with fixed ports (so a restarted member
// keeps its API address) and waits until every one is ready.
func startCluster(t *testing.T, n int) []*member {
	t.Helper()
	addrs := freeAddrs(t, 3*n)
	peers := map[string]string{}
	for i := range n {
		peers[fmt.Sprintf("n%d", i+1)] = addrs[i]
	}
	var ms []*member
	for i := range n {
		cfg := testConfig(t, fmt.Sprintf("n%d", i+1), addrs[i], addrs[n+i])
		cfg.APIAddr = addrs[2*n+i]
		cfg.Peers = peers
		ms = append(ms, &member{cfg: cfg})
	}
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { m.start(t) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, m := range ms {
			m.stop(t)
		}
	})
	return ms
}

func (m *member) start(t *testing.T) {
	t.Helper()
	ready := make(chan struct{})
	var once sync.Once
	cfg := m.cfg
	cfg.Ready = func() { once.Do(func() { close(ready) }) }
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan error, 1)
	go func() { m.done <- server.Run(ctx, cfg) }()
	select {
	case <-ready:
	case err := <-m.done:
		t.Errorf("%s: Run returned before Ready: %v", cfg.Name, err)
	case <-time.After(30 * time.Second):
		t.Errorf("%s: not ready within 30s", cfg.Name)
	}
}

func (m *member) stop(t *testing.T) {
	t.Helper()
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("%s: Run after cancel: %v", m.cfg.Name, err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("%s: Run did not return within 20s", m.cfg.Name)
	}
}

// restConfig is client-go's configuration for the member's API.
func (m *member) restConfig(t *testing.T) *rest.Config {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", filepath.Join(m.cfg.DataDir, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS, rc.Burst = 1000, 1000
	return rc
}

func (m *member) clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(m.restConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func eventually(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestThreeServersReadAndWatchEachOthersWrites(t *testing.T) {
	ms := startCluster(t, 3)
	a, b := ms[0].clientset(t), ms[1].clientset(t)
	ctx := t.Context()
	// A watch through n2 (possibly a follower), opened before the write.
	w, err := b.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for i := range 20 {
		name := "cm-" + strconv.Itoa(i)
		created, err := a.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": strconv.Itoa(i)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Immediately readable through every other server.
		for _, m := range ms[1:] {
			got, err := m.clientset(t).CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil || got.ResourceVersion != created.ResourceVersion {
				t.Fatalf("read of %s through %s right after the write: %v (rv %v, want %s)", name, m.cfg.Name, err, got, created.ResourceVersion)
			}
		}
		select {
		case ev := <-w.ResultChan():
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if ev.Type != watch.Added || !ok || cm.Name != name || cm.ResourceVersion != created.ResourceVersion {
				t.Fatalf("watch through n2: %s %v, want ADDED %s", ev.Type, ev.Object, name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("watch through n2 did not see %s", name)
		}
	}
}

// recorder keeps, per object, the resourceVersions an informer delivered.
type recorder struct {
	mu   sync.Mutex
	seen map[string][]string
}

func (r *recorder) add(obj any) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := fmt.Sprintf("%T/%s", obj, m.GetName())
	if s := r.seen[key]; len(s) > 0 && s[len(s)-1] == m.GetResourceVersion() {
		return // a resync or relist of what was already seen
	}
	r.seen[key] = append(r.seen[key], m.GetResourceVersion())
}

func (r *recorder) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    r.add,
		UpdateFunc: func(_, obj any) { r.add(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if m, ok := obj.(metav1.Object); ok {
				r.mu.Lock()
				key := fmt.Sprintf("%T/%s", obj, m.GetName())
				r.seen[key] = append(r.seen[key], "deleted")
				r.mu.Unlock()
			}
		},
	}
}

func (r *recorder) get(key string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen[key]...)
}

// countingTransport counts the requests that (re)build an informer's state:
// lists, and watches that send initial events.
type countingTransport struct {
	next  http.RoundTripper
	syncs atomic.Int32
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	if req.Method == http.MethodGet && (q.Get("watch") == "" || q.Get("sendInitialEvents") == "true") && q.Has("resourceVersion") {
		c.syncs.Add(1)
	}
	return c.next.RoundTrip(req)
}

// TestInformerAcrossRestartAnd410 runs client-go shared informers on pods
// and deployments against n1 while n1 restarts: they see every change, in
// order; after a compaction past their resourceVersion they re-list.
func TestInformerAcrossRestartAnd410(t *testing.T) {
	ms := startCluster(t, 3)
	writer := ms[1].clientset(t)
	rc := ms[0].restConfig(t)
	counter := &countingTransport{}
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter })
	watched, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	factory := informers.NewSharedInformerFactoryWithOptions(watched, 0, informers.WithNamespace("default"))
	rec := &recorder{seen: map[string][]string{}}
	if _, err := factory.Core().V1().Pods().Informer().AddEventHandler(rec.handler()); err != nil {
		t.Fatal(err)
	}
	if _, err := factory.Apps().V1().Deployments().Informer().AddEventHandler(rec.handler()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer func() { close(stop); factory.Shutdown() }()
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	want := map[string][]string{}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "x"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27"}}}}
	}
	createPod := func(name string) {
		p, err := writer.CoreV1().Pods("default").Create(ctx, pod(name), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want["*v1.Pod/"+name] = append(want["*v1.Pod/"+name], p.ResourceVersion)
	}
	labelPod := func(name, v string) {
		p, err := writer.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Labels["v"] = v
		if p, err = writer.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		want["*v1.Pod/"+name] = append(want["*v1.Pod/"+name], p.ResourceVersion)
	}
	deletePod := func(name string) {
		if err := writer.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		want["*v1.Pod/"+name] = append(want["*v1.Pod/"+name], "deleted")
	}
	createDeploy := func(name string, replicas int32) {
		d, err := writer.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}, Spec: pod("t").Spec}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want["*v1.Deployment/"+name] = append(want["*v1.Deployment/"+name], d.ResourceVersion)
	}
	scale := func(name string, n int32) {
		s, err := writer.AppsV1().Deployments("default").GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Spec.Replicas = n
		if s, err = writer.AppsV1().Deployments("default").UpdateScale(ctx, name, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		want["*v1.Deployment/"+name] = append(want["*v1.Deployment/"+name], s.ResourceVersion)
	}
	// Every change the test made is seen, in order; the controllers (the
	// deployment controller writes status) may add changes between them.
	checkAll := func(phase string) {
		t.Helper()
		for key, w := range want {
			if !waitFor(30*time.Second, func() bool { return inOrder(rec.get(key), w) }) {
				t.Fatalf("%s: %s: saw %v, want %v in order", phase, key, rec.get(key), w)
			}
		}
	}

	createPod("a")
	createPod("b")
	createDeploy("web", 1)
	labelPod("a", "1")
	checkAll("before the restart")

	// n1 goes down; the cluster keeps taking writes through n2.
	ms[0].stop(t)
	labelPod("a", "2")
	deletePod("b")
	createPod("c")
	scale("web", 3)
	ms[0].start(t)
	labelPod("c", "1")
	checkAll("after n1 restarted")

	// n1 goes down again, and the history the informers would resume from
	// is compacted away: they get a 410 and re-list.
	ms[0].stop(t)
	syncsBefore := counter.syncs.Load()
	createPod("d")
	labelPod("a", "3")
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{ms[1].cfg.ClientAddr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	resp, err := etcd.Get(ctx, "compact-marker")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	ms[0].start(t)
	checkAll("after the 410")
	if n := counter.syncs.Load(); n <= syncsBefore {
		t.Errorf("informers did not re-list after the compaction (%d initial syncs before, %d after)", syncsBefore, n)
	}
}

// inOrder reports whether seen contains every entry of want, in order.
func inOrder(seen, want []string) bool {
	i := 0
	for _, s := range seen {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	return i == len(want)
}

func waitFor(timeout time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
