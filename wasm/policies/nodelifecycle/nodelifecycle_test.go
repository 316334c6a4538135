package nodelifecycle

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/wasm/abi"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readyNode(heartbeat time.Time, taints ...corev1.Taint) *corev1.Node {
	hb := metav1.NewTime(heartbeat)
	return &corev1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid", ResourceVersion: "7", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24", Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: hb, LastTransitionTime: hb},
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: hb, LastTransitionTime: hb},
		}},
	}
}

func lease(renew time.Time) *coordinationv1.Lease {
	r := metav1.NewMicroTime(renew)
	return &coordinationv1.Lease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "kube-node-lease"},
		Spec:       coordinationv1.LeaseSpec{RenewTime: &r},
	}
}

func pod(name string, ready bool, tols ...corev1.Toleration) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), ResourceVersion: "3"},
		Spec:       corev1.PodSpec{NodeName: "n1", Tolerations: tols, Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: st}, {Type: corev1.ContainersReady, Status: st},
		}},
	}
}

// defaultTolerations are what the API server gives every pod.
func defaultTolerations(seconds int64) []corev1.Toleration {
	return []corev1.Toleration{
		{Key: TaintNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds},
		{Key: TaintUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds},
	}
}

type request struct {
	node  *corev1.Node
	lease *coordinationv1.Lease
	pods  []*corev1.Pod
	facts map[string]string
	now   time.Time
}

func (r request) run(t *testing.T) *abi.ReconcileResult {
	t.Helper()
	req := &abi.ReconcileRequest{Key: "n1", NowMillis: r.now.UnixMilli(), Facts: r.facts}
	if r.node != nil {
		req.Object = mustJSON(t, r.node)
	}
	if r.lease != nil {
		req.Related = append(req.Related, mustJSON(t, r.lease))
	}
	for _, p := range r.pods {
		req.Owned = append(req.Owned, mustJSON(t, p))
	}
	res, err := Policy{}.Reconcile(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// written decodes the actions of a result.
type written struct {
	nodeStatus *corev1.Node
	nodeSpec   *corev1.Node
	podStatus  map[string]*corev1.Pod
	deleted    []string
}

func decodeActions(t *testing.T, res *abi.ReconcileResult) written {
	t.Helper()
	w := written{podStatus: map[string]*corev1.Pod{}}
	for _, a := range res.Actions {
		var h struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
				UID  string `json:"uid"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(a.Object, &h); err != nil {
			t.Fatal(err)
		}
		switch {
		case h.Kind == "Node" && a.Verb == abi.VerbUpdateStatus:
			w.nodeStatus = new(corev1.Node)
			json.Unmarshal(a.Object, w.nodeStatus)
		case h.Kind == "Node" && a.Verb == abi.VerbUpdate:
			w.nodeSpec = new(corev1.Node)
			json.Unmarshal(a.Object, w.nodeSpec)
		case h.Kind == "Pod" && a.Verb == abi.VerbUpdateStatus:
			p := new(corev1.Pod)
			json.Unmarshal(a.Object, p)
			w.podStatus[h.Metadata.Name] = p
		case h.Kind == "Pod" && a.Verb == abi.VerbDelete:
			if h.Metadata.UID == "" {
				t.Errorf("delete of %s without a uid precondition", h.Metadata.Name)
			}
			w.deleted = append(w.deleted, h.Metadata.Name)
		default:
			t.Fatalf("unexpected action %s %s", a.Verb, h.Kind)
		}
	}
	return w
}

func condition(n *corev1.Node, typ corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == typ {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func TestHealthyNodeWakesAtLeaseExpiry(t *testing.T) {
	now := t0
	res := request{node: readyNode(t0.Add(-time.Minute)), lease: lease(now.Add(-5 * time.Second)),
		pods: []*corev1.Pod{pod("a", true)}, facts: map[string]string{FactMemberStatus: "alive"}, now: now}.run(t)
	if len(res.Actions) != 0 {
		t.Fatalf("actions for a healthy node: %+v", res.Actions)
	}
	// Renewed 5 s ago, grace 20 s: lost in 15 s.
	if got := time.Duration(res.RequeueAfterMillis) * time.Millisecond; got < 14*time.Second || got > 16*time.Second {
		t.Errorf("requeue after %v, want about 15s", got)
	}
}

func TestLeaseExpiryMarksTheNodeUnknownTaintsItAndItsPodsNotReady(t *testing.T) {
	now := t0
	res := request{node: readyNode(t0.Add(-time.Minute)), lease: lease(now.Add(-21 * time.Second)),
		pods: []*corev1.Pod{pod("a", true, defaultTolerations(30)...), pod("b", false, defaultTolerations(30)...)}, now: now}.run(t)
	w := decodeActions(t, res)
	if w.nodeStatus == nil || w.nodeSpec == nil {
		t.Fatalf("want a node status and a node spec write, got %+v", res.Actions)
	}
	for _, typ := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure} {
		c := condition(w.nodeStatus, typ)
		if c == nil || c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusUnknown" || !c.LastTransitionTime.Time.Equal(now) {
			t.Errorf("%s: %+v", typ, c)
		}
	}
	if w.nodeStatus.Spec.PodCIDR != "10.244.1.0/24" {
		t.Errorf("the status write lost the spec: %+v", w.nodeStatus.Spec)
	}
	taints := w.nodeSpec.Spec.Taints
	if len(taints) != 2 || taints[0].Key != TaintUnreachable || taints[1].Key != TaintUnreachable ||
		taints[1].Effect != corev1.TaintEffectNoExecute || taints[1].TimeAdded == nil || !taints[1].TimeAdded.Time.Equal(now) {
		t.Errorf("taints: %+v", taints)
	}
	if condition(w.nodeSpec, corev1.NodeReady).Status != corev1.ConditionUnknown {
		t.Error("the spec write (after the status write) must carry the new status too")
	}
	if p := w.podStatus["a"]; p == nil || p.Status.Conditions[0].Status != corev1.ConditionFalse || p.Status.Conditions[1].Status != corev1.ConditionTrue {
		t.Errorf("pod a: %+v", p)
	}
	if _, ok := w.podStatus["b"]; ok {
		t.Error("pod b was not ready: no write")
	}
	if len(w.deleted) != 0 {
		t.Errorf("evicted before the toleration ran out: %v", w.deleted)
	}
	if got := time.Duration(res.RequeueAfterMillis) * time.Millisecond; got != 30*time.Second {
		t.Errorf("requeue after %v, want 30s (the toleration)", got)
	}
	found := false
	for _, ev := range res.Events {
		found = found || (ev.Reason == "NodeNotReady" && ev.Action != nil && *ev.Action == 0)
	}
	if !found {
		t.Errorf("no NodeNotReady event tied to the status write: %+v", res.Events)
	}
}

func TestSerfFailureCountsOnlyWhileTheLeaseIsNotRenewed(t *testing.T) {
	now := t0
	failedAt := now.Add(-2 * time.Second)
	facts := map[string]string{FactMemberStatus: "failed", FactMemberSince: strconv.FormatInt(failedAt.UnixMilli(), 10)}
	// Renewed 4 s ago, before Serf gave up 2 s ago: lost well before the lease grace.
	res := request{node: readyNode(t0.Add(-time.Minute)), lease: lease(now.Add(-4 * time.Second)), facts: facts, now: now}.run(t)
	if w := decodeActions(t, res); w.nodeStatus == nil || condition(w.nodeStatus, corev1.NodeReady).Status != corev1.ConditionUnknown {
		t.Fatalf("a Serf failure after the last renewal must mark the node Unknown: %+v", res.Actions)
	}
	// Renewed after Serf gave up: its gossip is cut, its API connection is not.
	res = request{node: readyNode(t0.Add(-time.Minute)), lease: lease(now.Add(-time.Second)), facts: facts, now: now}.run(t)
	if len(res.Actions) != 0 {
		t.Fatalf("a node renewing its Lease is not lost: %+v", res.Actions)
	}
}

func TestEvictionAfterTheToleration(t *testing.T) {
	added := metav1.NewTime(t0)
	taints := []corev1.Taint{
		{Key: TaintUnreachable, Effect: corev1.TaintEffectNoSchedule},
		{Key: TaintUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added},
	}
	node := readyNode(t0.Add(-time.Minute), taints...)
	node.Status.Conditions[1].Status = corev1.ConditionUnknown
	node.Status.Conditions[0].Status = corev1.ConditionUnknown
	forever := corev1.Toleration{Key: TaintUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}
	pods := []*corev1.Pod{
		pod("short", false, defaultTolerations(30)...),
		pod("long", false, defaultTolerations(300)...),
		pod("forever", false, forever),
		pod("none", false),
	}
	stale := lease(t0.Add(-time.Minute))
	// 29 s after the taint: only the pod without a toleration goes.
	res := request{node: node, lease: stale, pods: pods, now: t0.Add(29 * time.Second)}.run(t)
	w := decodeActions(t, res)
	if len(w.deleted) != 1 || w.deleted[0] != "none" || w.nodeStatus != nil || w.nodeSpec != nil {
		t.Fatalf("at 29s: %+v", w)
	}
	if got := time.Duration(res.RequeueAfterMillis) * time.Millisecond; got != time.Second {
		t.Errorf("requeue after %v, want 1s", got)
	}
	// At 30 s the 30 s pod goes too; the others stay.
	w = decodeActions(t, request{node: node, lease: stale, pods: pods[:3], now: t0.Add(30 * time.Second)}.run(t))
	if len(w.deleted) != 1 || w.deleted[0] != "short" {
		t.Fatalf("at 30s: deleted %v", w.deleted)
	}
}

func TestReturningNodeLosesItsTaints(t *testing.T) {
	added := metav1.NewTime(t0)
	other := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	node := readyNode(t0.Add(time.Minute), other,
		corev1.Taint{Key: TaintUnreachable, Effect: corev1.TaintEffectNoSchedule},
		corev1.Taint{Key: TaintUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added})
	now := t0.Add(time.Minute)
	res := request{node: node, lease: lease(now), facts: map[string]string{FactMemberStatus: "alive"}, now: now,
		pods: []*corev1.Pod{pod("a", true)}}.run(t)
	w := decodeActions(t, res)
	if w.nodeSpec == nil || len(w.nodeSpec.Spec.Taints) != 1 || w.nodeSpec.Spec.Taints[0] != other {
		t.Fatalf("taints after the node returned: %+v", w.nodeSpec)
	}
	if w.nodeStatus != nil || len(w.podStatus) != 0 || len(w.deleted) != 0 {
		t.Errorf("a returned node needs only its taints removed: %+v", w)
	}
}

func TestNotReadyNodeGetsNotReadyTaints(t *testing.T) {
	now := t0
	node := readyNode(now)
	node.Status.Conditions[1].Status = corev1.ConditionFalse
	w := decodeActions(t, request{node: node, lease: lease(now), now: now, pods: []*corev1.Pod{pod("a", true)}}.run(t))
	if w.nodeStatus != nil {
		t.Error("a node that reports itself is not lost")
	}
	if w.nodeSpec == nil || len(w.nodeSpec.Spec.Taints) != 2 || w.nodeSpec.Spec.Taints[1].Key != TaintNotReady {
		t.Fatalf("taints: %+v", w.nodeSpec)
	}
	if len(w.deleted) != 1 {
		t.Errorf("a pod without tolerations leaves a NoExecute-tainted node at once: %v", w.deleted)
	}
}

func TestDeletedNodeTakesItsPods(t *testing.T) {
	gone := pod("gone", true)
	terminating := pod("terminating", true)
	terminating.DeletionTimestamp = &metav1.Time{Time: t0}
	w := decodeActions(t, request{pods: []*corev1.Pod{gone, terminating}, now: t0}.run(t))
	if len(w.deleted) != 1 || w.deleted[0] != "gone" {
		t.Fatalf("deleted %v, want [gone]", w.deleted)
	}
}

func TestConfigGracePeriod(t *testing.T) {
	req := &abi.ReconcileRequest{Key: "n1", NowMillis: t0.UnixMilli(), Object: mustJSON(t, readyNode(t0.Add(-time.Minute))),
		Related: []json.RawMessage{mustJSON(t, lease(t0.Add(-6*time.Second)))}, Config: json.RawMessage(`{"gracePeriodMillis":5000}`)}
	res, err := Policy{}.Reconcile(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Actions) == 0 {
		t.Fatal("6 s without a renewal is lost with a 5 s grace period")
	}
	req.Config = json.RawMessage(`{"gracePeriodMillis":"x"}`)
	if _, err := (Policy{}).Reconcile(req); err == nil {
		t.Fatal("a malformed config must fail the reconcile")
	}
}
