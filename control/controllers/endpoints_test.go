package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/control/controllers"
	"github.com/skiff-sh/skiff/control/gc"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore/storetest"
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
	wasmruntime "github.com/skiff-sh/skiff/wasm/runtime"
)

// observed is one reconcile the policy answered.
type observed struct {
	key        string
	serviceRV  string // resourceVersion of the Service in the request ("" when deleted)
	actions    int
	actionsDoc []string
}

// recording wraps a policy and keeps what it answered. With twin set, every request is also
// answered by twin, and a different answer fails the test.
type recording struct {
	inner controllers.Reconciler
	twin  controllers.Reconciler
	t     *testing.T
	mu    sync.Mutex
	seen  []observed
}

func (r *recording) Reconcile(ctx context.Context, req *abi.ReconcileRequest) (*abi.ReconcileResult, error) {
	res, err := r.inner.Reconcile(ctx, req)
	if r.twin != nil && err == nil {
		want, err2 := r.twin.Reconcile(ctx, req)
		a, _ := json.Marshal(res)
		b, _ := json.Marshal(want)
		if err2 != nil || string(a) != string(b) {
			r.t.Errorf("reconcile %s: the module answered %s, the native policy %s (%v)", req.Key, a, b, err2)
		}
	}
	o := observed{key: req.Key}
	if len(req.Object) > 0 {
		var h struct {
			Metadata struct{ ResourceVersion string } `json:"metadata"`
		}
		_ = json.Unmarshal(req.Object, &h)
		o.serviceRV = h.Metadata.ResourceVersion
	}
	if res != nil {
		o.actions = len(res.Actions)
		for _, a := range res.Actions {
			o.actionsDoc = append(o.actionsDoc, a.Verb+" "+string(a.Object))
		}
	}
	r.mu.Lock()
	r.seen = append(r.seen, o)
	r.mu.Unlock()
	return res, err
}

// since are the reconciles of key from index i on.
func (r *recording) since(i int, key string) []observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []observed
	for _, o := range r.seen[min(i, len(r.seen)):] {
		if o.key == key {
			out = append(out, o)
		}
	}
	return out
}

func (r *recording) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// epEnv is a registry with the garbage collector running, and endpoints controllers that the
// test starts and stops (leadership terms).
type epEnv struct {
	t                             *testing.T
	reg                           *registry.Registry
	svcs, pods, endpoints, slices *registry.Store
	policy                        *recording
	stopTerm                      func()
}

func newEPEnv(t *testing.T, policy, twin controllers.Reconciler) *epEnv {
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
	e := &epEnv{
		t: t, reg: reg,
		svcs:      reg.Store(corev1.SchemeGroupVersion.WithResource("services")),
		pods:      reg.Store(corev1.SchemeGroupVersion.WithResource("pods")),
		endpoints: reg.Store(corev1.SchemeGroupVersion.WithResource("endpoints")),
		slices:    reg.Store(discoveryv1.SchemeGroupVersion.WithResource("endpointslices")),
		policy:    &recording{inner: policy, twin: twin, t: t},
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	wg.Go(func() {
		if err := gc.New(reg, logger).Run(ctx); err != nil {
			t.Errorf("gc: %v", err)
		}
	})
	t.Cleanup(func() {
		e.stop()
		cancel()
		wg.Wait()
	})
	e.start()
	return e
}

// start begins a leadership term of the endpoints controllers.
func (e *epEnv) start() {
	logger := slog.New(slog.NewTextHandler(e.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctrl := controllers.New(e.reg, map[string]controllers.Reconciler{controllers.EndpointsModule: e.policy}, logger)
	ctrl.Workers = 2
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ctrl.Run(ctx); err != nil {
			e.t.Errorf("controllers: %v", err)
		}
	}()
	e.stopTerm = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			e.t.Error("controllers did not stop")
		}
	}
}

// stop ends the current term.
func (e *epEnv) stop() {
	if e.stopTerm != nil {
		e.stopTerm()
		e.stopTerm = nil
	}
}

func (e *epEnv) createService(svc *corev1.Service) *corev1.Service {
	e.t.Helper()
	svc.Namespace = ns
	out, err := e.svcs.Create(context.Background(), ns, svc, registry.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create service %s: %v", svc.Name, err)
	}
	return out.(*corev1.Service)
}

// createPod creates a pod of app web on node n1 and gives it an IP and readiness, as a kubelet would.
func (e *epEnv) createPod(name, ip string, ready bool) {
	e.t.Helper()
	_, err := e.pods.Create(context.Background(), ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "nginx",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
	}, registry.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create pod %s: %v", name, err)
	}
	e.setPodStatus(name, func(st *corev1.PodStatus) {
		st.Phase = corev1.PodRunning
		st.PodIP = ip
		st.PodIPs = []corev1.PodIP{{IP: ip}}
	})
	e.setReady(name, ready)
}

func (e *epEnv) setPodStatus(name string, f func(*corev1.PodStatus)) {
	e.t.Helper()
	if _, _, err := e.pods.Update(context.Background(), ns, name, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod)
		f(&p.Status)
		return p, nil
	}, registry.UpdateOptions{Subresource: "status"}); err != nil {
		e.t.Fatalf("update pod %s status: %v", name, err)
	}
}

func (e *epEnv) setReady(name string, ready bool) {
	e.t.Helper()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	e.setPodStatus(name, func(s *corev1.PodStatus) {
		s.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.Now()}}
	})
}

func (e *epEnv) getEndpoints(name string) (*corev1.Endpoints, error) {
	obj, err := e.endpoints.Get(context.Background(), ns, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Endpoints), nil
}

func (e *epEnv) slicesOf(svc string) []discoveryv1.EndpointSlice {
	e.t.Helper()
	list, err := e.slices.List(context.Background(), ns, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		e.t.Fatal(err)
	}
	items := list.(*discoveryv1.EndpointSliceList).Items
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	return items
}

// epSummary is "ready:ip:port" and "notready:ip:port", sorted.
func epSummary(ep *corev1.Endpoints) string {
	var out []string
	for _, s := range ep.Subsets {
		for _, p := range s.Ports {
			for _, a := range s.Addresses {
				out = append(out, fmt.Sprintf("ready:%s:%d", a.IP, p.Port))
			}
			for _, a := range s.NotReadyAddresses {
				out = append(out, fmt.Sprintf("notready:%s:%d", a.IP, p.Port))
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// sliceSummary is "ip:ready/serving/terminating" over all slices, sorted.
func sliceSummary(items []discoveryv1.EndpointSlice) string {
	var out []string
	for _, s := range items {
		for _, ep := range s.Endpoints {
			b := func(p *bool) bool { return p != nil && *p }
			out = append(out, fmt.Sprintf("%s:%v/%v/%v", strings.Join(ep.Addresses, ","), b(ep.Conditions.Ready), b(ep.Conditions.Serving), b(ep.Conditions.Terminating)))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// want waits until the Service's Endpoints and slices show what is expected ("-": no Endpoints
// object, no slices; slices are summarised over however many there are).
func (e *epEnv) want(svc, endpoints, slices string) {
	e.t.Helper()
	eventually(e.t, 10*time.Second, func() error {
		ep, err := e.getEndpoints(svc)
		switch {
		case endpoints == "-" && !notFound(err):
			return fmt.Errorf("Endpoints %s still there (%v)", svc, err)
		case endpoints != "-" && err != nil:
			return err
		case endpoints != "-" && epSummary(ep) != endpoints:
			return fmt.Errorf("Endpoints %q, want %q", epSummary(ep), endpoints)
		}
		items := e.slicesOf(svc)
		if slices == "-" {
			if len(items) != 0 {
				return fmt.Errorf("%d slices left", len(items))
			}
			return nil
		}
		if len(items) == 0 {
			return fmt.Errorf("no slices")
		}
		if got := sliceSummary(items); got != slices {
			return fmt.Errorf("slices %q, want %q", got, slices)
		}
		return nil
	})
}

// versions are the resourceVersions of the service's Endpoints and slices.
func (e *epEnv) versions(svc string) string {
	e.t.Helper()
	var out []string
	if ep, err := e.getEndpoints(svc); err == nil {
		out = append(out, "ep="+ep.ResourceVersion)
	}
	for _, s := range e.slicesOf(svc) {
		out = append(out, s.Name+"="+s.ResourceVersion)
	}
	return strings.Join(out, " ")
}

// quietReconcile waits for a reconcile of key (after mark) that saw the Service at least at
// resourceVersion rv, and fails if it wrote anything.
func (e *epEnv) quietReconcile(mark int, key, rv string) {
	e.t.Helper()
	eventually(e.t, 10*time.Second, func() error {
		for _, o := range e.policy.since(mark, key) {
			if rv != "" && revision(o.serviceRV) < revision(rv) {
				continue
			}
			if o.actions != 0 {
				e.t.Fatalf("a reconcile with nothing changed answered %d writes: %v", o.actions, o.actionsDoc)
			}
			return nil
		}
		return fmt.Errorf("no reconcile of %s at resourceVersion %s yet", key, rv)
	})
}

func revision(rv string) int64 {
	n, _ := strconv.ParseInt(rv, 10, 64)
	return n
}

func webService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
}

func TestEndpointsController(t *testing.T) {
	native := controllers.Native()[controllers.EndpointsModule]
	t.Run("native", func(t *testing.T) { endpointsScenario(t, native, nil) })
	// The module decides, and every decision is compared with the native policy's.
	t.Run("wasm", func(t *testing.T) { endpointsScenario(t, endpointsModule(t), native) })
}

// endpointsModule builds the endpoints policy module from source and loads it.
func endpointsModule(t *testing.T) controllers.Reconciler {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := builtintest.EndpointsSource(ctx)
	if err != nil {
		t.Fatalf("build the endpoints module: %v", err)
	}
	host, err := wasmruntime.New(context.Background(), wasmruntime.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close(context.Background()) })
	policies, closeAll, err := controllers.Load(t.Context(), host, map[string][]byte{controllers.EndpointsModule: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(context.Background()) })
	return policies[controllers.EndpointsModule]
}

func endpointsScenario(t *testing.T, policy, twin controllers.Reconciler) {
	e := newEPEnv(t, policy, twin)
	ctx := context.Background()
	e.createPod("a", "10.244.0.1", true)
	e.createPod("b", "10.244.0.2", false)
	svc := e.createService(webService("web"))
	e.want("web", "notready:10.244.0.2:8080 ready:10.244.0.1:8080", "10.244.0.1:true/true/false 10.244.0.2:false/false/false")

	sl := e.slicesOf("web")
	if len(sl) != 1 {
		t.Fatalf("%d slices, want 1", len(sl))
	}
	s := sl[0]
	ref := metav1.GetControllerOf(&s)
	if s.AddressType != discoveryv1.AddressTypeIPv4 || !strings.HasPrefix(s.Name, "web-") || ref == nil || ref.UID != svc.UID ||
		s.Labels[discoveryv1.LabelManagedBy] != "endpointslice-controller.k8s.io" || len(s.Ports) != 1 || *s.Ports[0].Port != 8080 {
		t.Errorf("slice %s: addressType %s, owner %+v, labels %v, ports %+v", s.Name, s.AddressType, ref, s.Labels, s.Ports)
	}
	for _, ep := range s.Endpoints {
		if ep.NodeName == nil || *ep.NodeName != "n1" || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
			t.Errorf("endpoint %+v: want node n1 and a pod targetRef", ep)
		}
	}
	ep, _ := e.getEndpoints("web")
	if a := ep.Subsets[0]; ep.Labels["app"] != "web" || len(a.Addresses)+len(a.NotReadyAddresses) == 0 {
		t.Errorf("Endpoints %+v", ep)
	}

	t.Run("readiness flips move addresses", func(t *testing.T) {
		e.setReady("b", true)
		e.want("web", "ready:10.244.0.1:8080 ready:10.244.0.2:8080", "10.244.0.1:true/true/false 10.244.0.2:true/true/false")
		e.setReady("a", false)
		e.want("web", "notready:10.244.0.1:8080 ready:10.244.0.2:8080", "10.244.0.1:false/false/false 10.244.0.2:true/true/false")
	})

	t.Run("nothing changed, nothing written", func(t *testing.T) {
		before := e.versions("web")
		mark := e.policy.len()
		out, _, err := e.svcs.Update(ctx, ns, "web", func(cur runtime.Object) (runtime.Object, error) {
			s := cur.(*corev1.Service)
			s.Annotations = map[string]string{"touched": "yes"}
			return s, nil
		}, registry.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.quietReconcile(mark, ns+"/web", out.(*corev1.Service).ResourceVersion)
		if after := e.versions("web"); after != before {
			t.Errorf("versions %s, were %s", after, before)
		}
	})

	t.Run("a new term resumes without writing", func(t *testing.T) {
		before := e.versions("web")
		e.stop()
		mark := e.policy.len()
		e.start()
		e.quietReconcile(mark, ns+"/web", "")
		if after := e.versions("web"); after != before {
			t.Errorf("versions %s, were %s", after, before)
		}
	})

	t.Run("terminating pod", func(t *testing.T) {
		if _, _, err := e.pods.Delete(ctx, ns, "b", nil); err != nil {
			t.Fatal(err)
		}
		e.want("web", "notready:10.244.0.1:8080", "10.244.0.1:false/false/false 10.244.0.2:false/true/true")
	})

	t.Run("deleted pod", func(t *testing.T) {
		if _, _, err := e.pods.Delete(ctx, ns, "b", &metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
			t.Fatal(err)
		}
		e.want("web", "notready:10.244.0.1:8080", "10.244.0.1:false/false/false")
	})

	t.Run("changes while no term runs are caught up", func(t *testing.T) {
		e.stop()
		e.setReady("a", true)
		e.createPod("c", "10.244.0.3", true)
		e.start()
		e.want("web", "ready:10.244.0.1:8080 ready:10.244.0.3:8080", "10.244.0.1:true/true/false 10.244.0.3:true/true/false")
	})

	t.Run("a service without selector is left alone", func(t *testing.T) {
		e.createService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "manual"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}})
		created, err := e.endpoints.Create(ctx, ns, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "manual"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}}, Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}},
			registry.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mark := e.policy.len()
		out, _, err := e.svcs.Update(ctx, ns, "manual", func(cur runtime.Object) (runtime.Object, error) {
			s := cur.(*corev1.Service)
			s.Annotations = map[string]string{"touched": "yes"}
			return s, nil
		}, registry.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.quietReconcile(mark, ns+"/manual", out.(*corev1.Service).ResourceVersion)
		ep, err := e.getEndpoints("manual")
		if err != nil || ep.ResourceVersion != created.(*corev1.Endpoints).ResourceVersion {
			t.Errorf("user Endpoints changed: %+v, %v", ep, err)
		}
		if n := len(e.slicesOf("manual")); n != 0 {
			t.Errorf("%d slices for a service without selector", n)
		}
	})

	t.Run("service deleted: Endpoints and slices go", func(t *testing.T) {
		if _, _, err := e.svcs.Delete(ctx, ns, "web", nil); err != nil {
			t.Fatal(err)
		}
		e.want("web", "-", "-")
	})

	t.Run("service deleted while no term runs", func(t *testing.T) {
		e.createService(webService("web2"))
		e.want("web2", "ready:10.244.0.1:8080 ready:10.244.0.3:8080", "10.244.0.1:true/true/false 10.244.0.3:true/true/false")
		e.stop()
		if _, _, err := e.svcs.Delete(ctx, ns, "web2", nil); err != nil {
			t.Fatal(err)
		}
		e.start()
		e.want("web2", "-", "-")
	})
}
