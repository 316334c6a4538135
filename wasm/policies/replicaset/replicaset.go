// Package replicaset is the built-in ReplicaSet controller policy, a port of Kubernetes'
// pkg/controller/replicaset as a pure function for the reconcile hook (../../ABI.md): given a
// ReplicaSet, the pods it controls and the orphan pods its selector matches, it answers the
// writes that make the pods match spec.replicas and the status that describes them.
//
//   - Pods are made from spec.template, with the ReplicaSet's controller ownerReference
//     (blockOwnerDeletion) and generateName "<rs>-".
//   - Surplus pods are deleted in Kubernetes' order (ActivePodsWithRanks): unscheduled before
//     scheduled, Pending before Unknown before Running, not ready before ready, lower
//     pod-deletion-cost first, more pods of the set on the same node first, ready for less time
//     first, more restarts first, newer first.
//   - Orphans matching the selector are adopted; controlled pods that stop matching are released.
//   - Status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas (ready for
//     minReadySeconds; the policy asks to be called again when the next pod becomes available),
//     terminatingReplicas and observedGeneration.
//
// The host (control/controllers) does the watching, the expectations and the writes. The
// module is built from ./module.
package replicaset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/internal/kobj"
)

// BurstReplicas caps the pods created or deleted in one reconcile (Kubernetes' burstReplicas).
const BurstReplicas = 500

// deletionCostAnnotation is controller.kubernetes.io/pod-deletion-cost.
const deletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// Policy is the ReplicaSet controller policy; it implements sdk.Reconciler.
type Policy struct{}

// Reconcile answers the writes for one ReplicaSet.
func (Policy) Reconcile(req *abi.ReconcileRequest) (*abi.ReconcileResult, error) {
	res := &abi.ReconcileResult{}
	if len(req.Object) == 0 {
		// Deleted: the garbage collector removes its pods.
		return res, nil
	}
	rs, err := kobj.DecodeReplicaSet(req.Object)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Key, err)
	}
	now := time.UnixMilli(req.NowMillis)
	owned, err := decodePods(req.Owned)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Key, err)
	}
	orphans, err := decodePods(req.Orphans)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Key, err)
	}

	claimed := claim(rs, owned, orphans, res)
	var active []*kobj.Pod
	var terminating int32
	for _, p := range claimed {
		switch {
		case p.Active():
			active = append(active, p)
		case p.Terminating():
			terminating++
		}
	}
	if !rs.Meta.Deleting() {
		// The status describes the pods as they will be: those deleted now no longer count.
		deleted := manage(rs, active, res)
		kept := active[:0:0]
		for _, p := range active {
			if !deleted[p] {
				kept = append(kept, p)
			}
		}
		terminating += int32(len(active) - len(kept))
		active = kept
	}
	status, next := calculateStatus(rs, active, terminating, now)
	if !bytes.Equal(kobj.MarshalStatus(status), kobj.MarshalStatus(rs.Status)) {
		rs.Set(status, "status")
		res.Actions = append(res.Actions, abi.Action{Verb: abi.VerbUpdateStatus, Object: rs.JSON()})
	}
	if next > 0 {
		res.RequeueAfterMillis = next.Milliseconds() + 10
	}
	return res, nil
}

func decodePods(raw []json.RawMessage) ([]*kobj.Pod, error) {
	out := make([]*kobj.Pod, 0, len(raw))
	for _, b := range raw {
		p, err := kobj.DecodePod(b)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// claim is ClaimPods: controlled pods still matching stay, those that do not are released,
// matching active orphans are adopted unless the ReplicaSet is being deleted.
func claim(rs *kobj.ReplicaSet, owned, orphans []*kobj.Pod, res *abi.ReconcileResult) []*kobj.Pod {
	var out []*kobj.Pod
	for _, p := range owned {
		ref := p.Meta.ControllerRef()
		if ref == nil || ref.UID != rs.Meta.UID {
			continue
		}
		if rs.Spec.Selector.Matches(p.Meta.Labels) {
			out = append(out, p)
			continue
		}
		if p.Meta.Deleting() {
			continue
		}
		var refs []kobj.OwnerReference
		for _, r := range p.Meta.OwnerReferences {
			if r.UID != rs.Meta.UID {
				refs = append(refs, r)
			}
		}
		p.SetOwnerReferences(refs)
		res.Actions = append(res.Actions, abi.Action{Verb: abi.VerbUpdate, Object: p.JSON()})
	}
	if rs.Meta.Deleting() {
		return out
	}
	for _, p := range orphans {
		if p.Meta.ControllerRef() != nil || !p.Active() || !rs.Spec.Selector.Matches(p.Meta.Labels) {
			continue
		}
		p.SetOwnerReferences(append(append([]kobj.OwnerReference(nil), p.Meta.OwnerReferences...),
			kobj.NewControllerRef("apps/v1", "ReplicaSet", &rs.Meta)))
		res.Actions = append(res.Actions, abi.Action{Verb: abi.VerbUpdate, Object: p.JSON()})
		out = append(out, p)
	}
	return out
}

// manage is manageReplicas: create or delete pods to match spec.replicas.
func manage(rs *kobj.ReplicaSet, active []*kobj.Pod, res *abi.ReconcileResult) map[*kobj.Pod]bool {
	deleted := map[*kobj.Pod]bool{}
	diff := len(active) - int(rs.Replicas())
	switch {
	case diff < 0:
		n := min(-diff, BurstReplicas)
		pod := newPod(rs)
		for range n {
			i := len(res.Actions)
			res.Actions = append(res.Actions, abi.Action{Verb: abi.VerbCreate, Object: pod})
			res.Events = append(res.Events, abi.Event{Type: "Normal", Reason: "SuccessfulCreate", Message: "Created pod: {name}", Action: &i})
		}
	case diff > 0:
		n := min(diff, BurstReplicas)
		for _, p := range podsToDelete(active, n) {
			deleted[p] = true
			i := len(res.Actions)
			res.Actions = append(res.Actions, abi.Action{Verb: abi.VerbDelete, Object: p.Ref(false)})
			res.Events = append(res.Events, abi.Event{Type: "Normal", Reason: "SuccessfulDelete", Message: "Deleted pod: {name}", Action: &i})
		}
	}
	return deleted
}

// newPod is controller.GetPodFromTemplate.
func newPod(rs *kobj.ReplicaSet) json.RawMessage {
	t := rs.Spec.Template
	md := map[string]any{
		"generateName":    rs.Meta.Name + "-",
		"namespace":       rs.Meta.Namespace,
		"ownerReferences": []kobj.OwnerReference{kobj.NewControllerRef("apps/v1", "ReplicaSet", &rs.Meta)},
	}
	if l := t.Labels(); len(l) > 0 {
		md["labels"] = l
	}
	if a := t.Annotations(); len(a) > 0 {
		md["annotations"] = a
	}
	if tmd, ok := t["metadata"].(map[string]any); ok && tmd["finalizers"] != nil {
		md["finalizers"] = tmd["finalizers"]
	}
	b, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": t["spec"]})
	if err != nil {
		panic(fmt.Sprintf("replicaset: encode pod: %v", err))
	}
	return b
}

// podsToDelete picks n pods in ActivePodsWithRanks order.
func podsToDelete(pods []*kobj.Pod, n int) []*kobj.Pod {
	onNode := map[string]int{}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			onNode[p.Spec.NodeName]++
		}
	}
	rank := func(p *kobj.Pod) int { return onNode[p.Spec.NodeName] }
	cost := func(p *kobj.Pod) int64 {
		c, _ := strconv.ParseInt(p.Meta.Annotations[deletionCostAnnotation], 10, 32)
		return c
	}
	sorted := append([]*kobj.Pod(nil), pods...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Spec.NodeName != b.Spec.NodeName && (a.Spec.NodeName == "" || b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if a.PhaseRank() != b.PhaseRank() {
			return a.PhaseRank() < b.PhaseRank()
		}
		if a.Ready() != b.Ready() {
			return !a.Ready()
		}
		if ca, cb := cost(a), cost(b); ca != cb {
			return ca < cb
		}
		if rank(a) != rank(b) {
			return rank(a) > rank(b)
		}
		if a.Ready() && b.Ready() {
			if ta, tb := a.ReadySince(), b.ReadySince(); !ta.Equal(tb) {
				return afterOrZero(ta, tb)
			}
		}
		if a.Restarts() != b.Restarts() {
			return a.Restarts() > b.Restarts()
		}
		if ta, tb := a.Meta.Created(), b.Meta.Created(); !ta.Equal(tb) {
			return afterOrZero(ta, tb)
		}
		return a.Meta.Name > b.Meta.Name
	})
	return sorted[:n]
}

// afterOrZero: a zero time sorts first, else the later time does.
func afterOrZero(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b)
}

// calculateStatus is calculateStatus of replica_set_utils.go. next is how long until the next
// ready pod becomes available (0: none pending).
func calculateStatus(rs *kobj.ReplicaSet, active []*kobj.Pod, terminating int32, now time.Time) (kobj.ReplicaSetStatus, time.Duration) {
	st := kobj.ReplicaSetStatus{
		Replicas:           int32(len(active)),
		ObservedGeneration: rs.Meta.Generation,
		Conditions:         rs.Status.Conditions,
		TerminatingReplicas: func() *int32 {
			t := terminating
			return &t
		}(),
	}
	tmplLabels := rs.Spec.Template.Labels()
	var next time.Duration
	for _, p := range active {
		full := true
		for k, v := range tmplLabels {
			if p.Meta.Labels[k] != v {
				full = false
				break
			}
		}
		if full {
			st.FullyLabeledReplicas++
		}
		if p.Ready() {
			st.ReadyReplicas++
		}
		if p.Available(rs.Spec.MinReadySeconds, now) {
			st.AvailableReplicas++
		} else if at, ok := p.AvailableAt(rs.Spec.MinReadySeconds); ok {
			if d := at.Sub(now); d > 0 && (next == 0 || d < next) {
				next = d
			}
		}
	}
	return st, next
}
