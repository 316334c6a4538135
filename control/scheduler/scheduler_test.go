package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/control/scheduler"
	"github.com/skiff-sh/skiff/raftstore/storetest"
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
	policy "github.com/skiff-sh/skiff/wasm/policies/scheduler"
	wasmrt "github.com/skiff-sh/skiff/wasm/runtime"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

const ns = "default"

var (
	podsGVR   = corev1.SchemeGroupVersion.WithResource("pods")
	nodesGVR  = corev1.SchemeGroupVersion.WithResource("nodes")
	eventsGVR = corev1.SchemeGroupVersion.WithResource("events")
)

// policies are the two ways the default policy runs: the module in wazero (interruptible, as an
// upload would run, so the test covers the stricter host) and natively.
func policies(t *testing.T) map[string]scheduler.Policy {
	t.Helper()
	ctx := context.Background()
	h, err := wasmrt.New(ctx, wasmrt.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	m, err := h.Load(ctx, "default-scheduler", builtintest.Scheduler(t), wasmrt.ModuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]scheduler.Policy{"wasm": m, "native": sdk.NewNativeScheduler(policy.Policy{})}
}

// forEachPolicy runs f with each policy.
func forEachPolicy(t *testing.T, f func(t *testing.T, p scheduler.Policy)) {
	for name, p := range policies(t) {
		t.Run(name, func(t *testing.T) { f(t, p) })
	}
}

type env struct {
	reg    *registry.Registry
	pods   *registry.Store
	nodes  *registry.Store
	events *registry.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := storetest.New(t, 1, nil)
	kv := c.Nodes[0].Store()
	reg := registry.NewRegistry(kv, resources.Default(kv))
	e := &env{reg: reg, pods: reg.Store(podsGVR), nodes: reg.Store(nodesGVR), events: reg.Store(eventsGVR)}
	if _, err := reg.Namespaces().Create(t.Context(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs a scheduler until the test ends.
func (e *env) start(t *testing.T, p scheduler.Policy, tweak func(*scheduler.Config)) {
	t.Helper()
	cfg := scheduler.Config{Policy: p, Workers: 4, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := scheduler.New(e.reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

type nodeOpt func(*corev1.Node)

func labels(kv ...string) nodeOpt {
	return func(n *corev1.Node) {
		n.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}
func notReady(n *corev1.Node)      { n.Status.Conditions[0].Status = corev1.ConditionFalse }
func unschedulable(n *corev1.Node) { n.Spec.Unschedulable = true }
func tainted(n *corev1.Node) {
	n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
}

func (e *env) node(t *testing.T, name, cpu, mem string, pods int, opts ...nodeOpt) {
	t.Helper()
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
		corev1.ResourcePods: *resource.NewQuantity(int64(pods), resource.DecimalSI)}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{Capacity: alloc, Allocatable: alloc,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	for _, o := range opts {
		o(n)
	}
	if _, err := e.nodes.Create(t.Context(), "", n, registry.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
}

type podOpt func(*corev1.Pod)

func selector(k, v string) podOpt {
	return func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{k: v} }
}

func (e *env) pod(t *testing.T, name, cpu, mem string, opts ...podOpt) {
	t.Helper()
	req := corev1.ResourceList{}
	if cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx", Resources: corev1.ResourceRequirements{Requests: req}}}}}
	for _, o := range opts {
		o(p)
	}
	if _, err := e.pods.Create(t.Context(), ns, p, registry.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

func (e *env) getPod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	obj, err := e.pods.Get(t.Context(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.Pod)
}

// eventually polls cond until it holds or 15 seconds pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// boundTo waits for the pod to be bound and returns its node.
func (e *env) boundTo(t *testing.T, name string) string {
	t.Helper()
	var node string
	eventually(t, "pod "+name+" bound", func() (bool, string) {
		node = e.getPod(t, name).Spec.NodeName
		return node != "", "unbound"
	})
	return node
}

// warnings are the messages of the pod's FailedScheduling events.
func (e *env) warnings(t *testing.T, pod string) []string {
	t.Helper()
	obj, err := e.events.List(t.Context(), ns, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range obj.(*corev1.EventList).Items {
		if ev.InvolvedObject.Name == pod && ev.Reason == "FailedScheduling" {
			out = append(out, ev.Message)
		}
	}
	return out
}

func (e *env) waitWarning(t *testing.T, pod, want string) {
	t.Helper()
	eventually(t, "FailedScheduling "+want, func() (bool, string) {
		ws := e.warnings(t, pod)
		for _, w := range ws {
			if w == want {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%q", ws)
	})
}

func TestPodsLandWhereTheyFit(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p scheduler.Policy) {
		e := newEnv(t)
		e.node(t, "small", "1", "4Gi", 110)
		e.node(t, "big", "8", "16Gi", 110)
		e.node(t, "ssd", "2", "4Gi", 110, labels("disk", "ssd"))
		e.start(t, p, nil)
		cases := []struct {
			pod, cpu string
			opts     []podOpt
			want     string
		}{
			{"needs-4-cpus", "4", nil, "big"},
			{"wants-ssd", "100m", []podOpt{selector("disk", "ssd")}, "ssd"},
		}
		for _, c := range cases {
			e.pod(t, c.pod, c.cpu, "100Mi", c.opts...)
		}
		for _, c := range cases {
			if got := e.boundTo(t, c.pod); got != c.want {
				t.Errorf("%s bound to %s, want %s", c.pod, got, c.want)
			}
			cond := e.getPod(t, c.pod).Status.Conditions
			found := false
			for _, c := range cond {
				found = found || c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue
			}
			if !found {
				t.Errorf("%s has no PodScheduled=True condition: %+v", c.pod, cond)
			}
		}
	})
}

func TestBadNodesAvoided(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p scheduler.Policy) {
		e := newEnv(t)
		e.node(t, "notready", "8", "16Gi", 110, notReady)
		e.node(t, "cordoned", "8", "16Gi", 110, unschedulable)
		e.node(t, "tainted", "8", "16Gi", 110, tainted)
		e.node(t, "good", "8", "16Gi", 110)
		e.start(t, p, nil)
		for i := range 8 {
			e.pod(t, fmt.Sprintf("p%d", i), "100m", "100Mi")
		}
		e.pod(t, "tolerant", "100m", "100Mi", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "tainted"}
		})
		for i := range 8 {
			if got := e.boundTo(t, fmt.Sprintf("p%d", i)); got != "good" {
				t.Errorf("p%d bound to %s, want good", i, got)
			}
		}
		if got := e.boundTo(t, "tolerant"); got != "tainted" {
			t.Errorf("tolerant pod bound to %s, want tainted", got)
		}
	})
}

// TestNeverOvercommits races many pods for little room: three nodes with room for three pods
// each, thirty pods, eight workers. Exactly nine are bound, three per node, and the others wait
// with kube's message.
func TestNeverOvercommits(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p scheduler.Policy) {
		e := newEnv(t)
		for _, n := range []string{"a", "b", "c"} {
			e.node(t, n, "1", "64Gi", 110)
		}
		for i := range 30 {
			e.pod(t, fmt.Sprintf("p%02d", i), "300m", "10Mi")
		}
		e.start(t, p, func(c *scheduler.Config) { c.Workers = 8 })
		var perNode map[string]int
		eventually(t, "nine pods bound", func() (bool, string) {
			perNode = map[string]int{}
			obj, err := e.pods.List(t.Context(), ns, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			bound := 0
			for _, p := range obj.(*corev1.PodList).Items {
				if p.Spec.NodeName != "" {
					perNode[p.Spec.NodeName]++
					bound++
				}
			}
			return bound >= 9, fmt.Sprint(perNode)
		})
		time.Sleep(300 * time.Millisecond) // retries happen meanwhile; none may bind
		obj, err := e.pods.List(t.Context(), ns, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		perNode = map[string]int{}
		var waiting []string
		for _, p := range obj.(*corev1.PodList).Items {
			if p.Spec.NodeName != "" {
				perNode[p.Spec.NodeName]++
			} else {
				waiting = append(waiting, p.Name)
			}
		}
		if len(waiting) != 21 {
			t.Fatalf("%d pods waiting, want 21", len(waiting))
		}
		e.waitWarning(t, waiting[len(waiting)-1], "0/3 nodes are available: 3 Insufficient cpu.")
		for _, n := range []string{"a", "b", "c"} {
			if perNode[n] != 3 {
				t.Errorf("node %s has %d pods, want 3 (all: %v)", n, perNode[n], perNode)
			}
		}
	})
}

// TestFailedSchedulingThenNodeAdded checks kube's wording of the event, the PodScheduled=False
// condition, and that adding a node that fits schedules the pod.
func TestFailedSchedulingThenNodeAdded(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p scheduler.Policy) {
		e := newEnv(t)
		e.node(t, "small-1", "1", "4Gi", 110)
		e.node(t, "small-2", "1", "4Gi", 110)
		e.node(t, "gpu", "16", "64Gi", 110, tainted)
		e.node(t, "down", "16", "64Gi", 110, notReady)
		e.start(t, p, func(c *scheduler.Config) { c.UnschedulableCondition = true })
		e.pod(t, "big", "2", "1Gi")
		e.waitWarning(t, "big", "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were not ready, 2 Insufficient cpu.")
		eventually(t, "PodScheduled=False", func() (bool, string) {
			for _, c := range e.getPod(t, "big").Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
					return true, ""
				}
			}
			return false, fmt.Sprint(e.getPod(t, "big").Status.Conditions)
		})
		e.node(t, "roomy", "4", "8Gi", 110)
		if got := e.boundTo(t, "big"); got != "roomy" {
			t.Errorf("bound to %s, want roomy", got)
		}
	})
}

func TestNoNodes(t *testing.T) {
	e := newEnv(t)
	e.start(t, sdk.NewNativeScheduler(policy.Policy{}), nil)
	e.pod(t, "lonely", "", "")
	e.waitWarning(t, "lonely", "0/0 nodes are available: no nodes available to schedule pods.")
}

// failing is a policy that always fails, as a trapping or quarantined module does.
type failing struct{ calls sync.Map }

func (f *failing) Schedule(ctx context.Context, in *abi.Input, out *abi.Result) error {
	return &wasmrt.Error{Module: "broken", Op: abi.ExportFilter, Kind: wasmrt.ErrTrap, Err: errors.New("unreachable")}
}

func TestPolicyFailureIsAnEvent(t *testing.T) {
	e := newEnv(t)
	e.node(t, "n", "1", "1Gi", 110)
	e.start(t, &failing{}, nil)
	e.pod(t, "victim", "100m", "")
	eventually(t, "a policy failure event", func() (bool, string) {
		ws := e.warnings(t, "victim")
		for _, w := range ws {
			if strings.HasPrefix(w, "running the scheduling policy: ") && strings.Contains(w, "trap") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%q", ws)
	})
	if n := e.getPod(t, "victim").Spec.NodeName; n != "" {
		t.Errorf("bound to %s by a failing policy", n)
	}
}

// TestOtherSchedulersPodsIgnored leaves pods naming another scheduler alone.
func TestOtherSchedulersPodsIgnored(t *testing.T) {
	e := newEnv(t)
	e.node(t, "n", "1", "1Gi", 110)
	e.pod(t, "theirs", "100m", "", func(p *corev1.Pod) { p.Spec.SchedulerName = "my-scheduler" })
	e.pod(t, "ours", "100m", "")
	e.start(t, sdk.NewNativeScheduler(policy.Policy{}), nil)
	e.boundTo(t, "ours")
	time.Sleep(200 * time.Millisecond)
	if n := e.getPod(t, "theirs").Spec.NodeName; n != "" {
		t.Errorf("another scheduler's pod bound to %s", n)
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	cases := []struct{ all, pct, want int }{
		{50, 0, 50}, {99, 0, 99}, {100, 0, 100}, {500, 0, 230}, {1000, 0, 420}, {5000, 0, 500},
		{6000, 0, 300}, {6000, 100, 6000}, {5000, 1, 100}, {5000, 50, 2500},
	}
	for _, c := range cases {
		if got := scheduler.NumFeasibleNodesToFind(c.all, c.pct); got != c.want {
			t.Errorf("NumFeasibleNodesToFind(%d, %d) = %d, want %d", c.all, c.pct, got, c.want)
		}
	}
}

func TestFitErrorMessage(t *testing.T) {
	cases := []struct {
		err  scheduler.FitError
		want string
	}{
		{scheduler.FitError{NumAllNodes: 3, Reasons: map[string]int{"Insufficient cpu": 2, "node(s) had untolerated taint {a: b}": 1}},
			"0/3 nodes are available: 1 node(s) had untolerated taint {a: b}, 2 Insufficient cpu."},
		{scheduler.FitError{}, "0/0 nodes are available: no nodes available to schedule pods."},
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
