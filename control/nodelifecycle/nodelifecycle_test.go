package nodelifecycle_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/controllers"
	"github.com/skiff-sh/skiff/control/membership"
	"github.com/skiff-sh/skiff/control/nodelifecycle"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

type env struct {
	t                        *testing.T
	nodes, pods, leases, evs *registry.Store
	membersMu                sync.Mutex
	members                  []membership.Member
	changed                  chan struct{}
}

func newEnv(t *testing.T, tolerationSeconds int64, grace time.Duration) *env {
	t.Helper()
	kv := storetest.New(t, 1, nil).Nodes[0].Store()
	opts := resources.DefaultOptions(kv)
	opts.DefaultTolerationSeconds = tolerationSeconds
	opts.Logger = slog.New(slog.DiscardHandler)
	all, err := resources.All(opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.NewRegistry(kv, all)
	e := &env{t: t,
		nodes: reg.Store(corev1.SchemeGroupVersion.WithResource("nodes")), pods: reg.Store(corev1.SchemeGroupVersion.WithResource("pods")),
		leases: reg.Store(coordinationv1.SchemeGroupVersion.WithResource("leases")), evs: reg.Store(corev1.SchemeGroupVersion.WithResource("events")),
		changed: make(chan struct{}, 1)}
	namespaces := reg.Store(corev1.SchemeGroupVersion.WithResource("namespaces"))
	for _, ns := range []string{"default", corev1.NamespaceNodeLease} {
		if _, err := namespaces.Create(t.Context(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, registry.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := nodelifecycle.DefaultConfig()
	cfg.Policy = controllers.Native()[controllers.NodeLifecycleModule]
	cfg.GracePeriod = grace
	cfg.Members = e.listMembers
	cfg.MembersChanged = e.changed
	cfg.MemberPoll = time.Hour // only the signal
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := nodelifecycle.New(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return e
}

func (e *env) listMembers() []membership.Member {
	e.membersMu.Lock()
	defer e.membersMu.Unlock()
	return append([]membership.Member(nil), e.members...)
}

func (e *env) setMember(node string, st membership.Status) {
	e.membersMu.Lock()
	e.members = []membership.Member{{Name: "vm-" + node, Role: membership.RoleNode, Status: st, Since: time.Now(),
		Tags: map[string]string{membership.TagNodeName: node}}}
	e.membersMu.Unlock()
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// addNode registers a Ready node and its Lease, renewed now.
func (e *env) addNode(name string) {
	e.t.Helper()
	ctx := e.t.Context()
	if _, err := e.nodes.Create(ctx, "", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, registry.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.postReady(name)
	e.renew(name)
}

// postReady is the node daemon posting Ready True.
func (e *env) postReady(name string) {
	e.t.Helper()
	now := metav1.Now()
	_, _, err := e.nodes.Update(e.t.Context(), "", name, func(obj runtime.Object) (runtime.Object, error) {
		n := obj.(*corev1.Node)
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}}
		return n, nil
	}, registry.UpdateOptions{Subresource: "status"})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) renew(name string) {
	e.t.Helper()
	now := metav1.NowMicro()
	_, _, err := e.leases.Update(e.t.Context(), corev1.NamespaceNodeLease, name, func(obj runtime.Object) (runtime.Object, error) {
		l, _ := obj.(*coordinationv1.Lease)
		if l == nil {
			l = &coordinationv1.Lease{}
		}
		l.Name, l.Namespace = name, corev1.NamespaceNodeLease
		l.Spec.HolderIdentity, l.Spec.RenewTime = &name, &now
		return l, nil
	}, registry.UpdateOptions{CreateMissing: true})
	if err != nil {
		e.t.Fatal(err)
	}
}

// addPod makes a Running, Ready pod on node.
func (e *env) addPod(name, node string) {
	e.t.Helper()
	ctx := e.t.Context()
	if _, err := e.pods.Create(ctx, "default", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}}}, registry.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	_, _, err := e.pods.Update(ctx, "default", name, func(obj runtime.Object) (runtime.Object, error) {
		p := obj.(*corev1.Pod)
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		return p, nil
	}, registry.UpdateOptions{Subresource: "status"})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) node(name string) *corev1.Node {
	e.t.Helper()
	obj, err := e.nodes.Get(e.t.Context(), "", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return obj.(*corev1.Node)
}

func (e *env) pod(name string) (*corev1.Pod, bool) {
	obj, err := e.pods.Get(e.t.Context(), "default", name)
	if err != nil {
		return nil, false
	}
	return obj.(*corev1.Pod), true
}

func ready(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func hasTaint(n *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
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

const unreachable = "node.kubernetes.io/unreachable"

// Serf's failure makes the node Unknown and tainted at once, its pods not ready, then
// evicted after their toleration; when the node comes back its taints go.
func TestSerfFailureThenReturn(t *testing.T) {
	e := newEnv(t, 2, time.Hour)
	e.addNode("n1")
	e.setMember("n1", membership.StatusAlive)
	e.addPod("a", "n1")
	// Healthy: nothing changes.
	time.Sleep(200 * time.Millisecond)
	if n := e.node("n1"); ready(n) != corev1.ConditionTrue || len(n.Spec.Taints) != 0 {
		t.Fatalf("a healthy node was changed: %+v", n.Status.Conditions)
	}

	failed := time.Now()
	e.setMember("n1", membership.StatusFailed)
	eventually(t, "node Unknown and tainted", 5*time.Second, func() bool {
		n := e.node("n1")
		return ready(n) == corev1.ConditionUnknown && hasTaint(n, unreachable, corev1.TaintEffectNoExecute) && hasTaint(n, unreachable, corev1.TaintEffectNoSchedule)
	})
	t.Logf("Unknown and tainted %v after the member failed", time.Since(failed).Round(time.Millisecond))
	eventually(t, "pod not ready", 5*time.Second, func() bool { p, ok := e.pod("a"); return ok && !podReady(p) })
	// The 2 s toleration runs out: the pod is deleted gracefully (its node is to confirm).
	eventually(t, "pod evicted", 10*time.Second, func() bool { p, ok := e.pod("a"); return ok && p.DeletionTimestamp != nil })
	if since := time.Since(failed); since < 2*time.Second {
		t.Errorf("evicted %v after the failure, before the 2 s toleration", since)
	}

	// The node returns: Serf alive, Lease renewed, Ready posted.
	e.renew("n1")
	e.setMember("n1", membership.StatusAlive)
	e.postReady("n1")
	eventually(t, "taints removed", 5*time.Second, func() bool { return len(e.node("n1").Spec.Taints) == 0 })
	if ready(e.node("n1")) != corev1.ConditionTrue {
		t.Errorf("the returned node's Ready was overwritten: %+v", e.node("n1").Status.Conditions)
	}
	evs, err := e.evs.List(t.Context(), "default", metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, ev := range evs.(*corev1.EventList).Items {
		reasons[ev.InvolvedObject.Kind+"/"+ev.Reason] = true
	}
	if !reasons["Node/NodeNotReady"] || !reasons["Pod/TaintManagerEviction"] {
		t.Errorf("events: %v", reasons)
	}
}

// Without Serf, a Lease that is not renewed within the grace period loses the node.
func TestLeaseExpiry(t *testing.T) {
	e := newEnv(t, 300, 1500*time.Millisecond)
	e.addNode("n1")
	e.addPod("a", "n1")
	renewed := time.Now()
	eventually(t, "node Unknown after the grace period", 10*time.Second, func() bool { return ready(e.node("n1")) == corev1.ConditionUnknown })
	if since := time.Since(renewed); since < 1500*time.Millisecond {
		t.Errorf("lost %v after the last renewal, within the grace period", since)
	}
	eventually(t, "pod not ready", 5*time.Second, func() bool { p, ok := e.pod("a"); return ok && !podReady(p) })
	if p, _ := e.pod("a"); p.DeletionTimestamp != nil {
		t.Error("evicted within its 300 s toleration")
	}
}

// The pods of a deleted node are deleted at once: nobody will confirm them.
func TestDeletedNodeReleasesItsPods(t *testing.T) {
	e := newEnv(t, 300, time.Hour)
	e.addNode("n1")
	e.addPod("a", "n1")
	if _, _, err := e.nodes.Delete(t.Context(), "", "n1", &metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod gone", 5*time.Second, func() bool { _, ok := e.pod("a"); return !ok })
}
