// Package nodelifecycle is the built-in node lifecycle controller policy: what Kubernetes'
// node lifecycle controller and its taint eviction controller decide, for one Node per call.
//
// A node is lost when it stopped renewing its Lease for longer than the grace period, or when
// Serf declared its member failed (or left) and the node has not renewed its Lease since. Then:
//   - its conditions turn Unknown (reason NodeStatusUnknown), as the node can no longer say;
//   - it gets the taints node.kubernetes.io/unreachable (NoSchedule and NoExecute); a node
//     that reports Ready False gets node.kubernetes.io/not-ready instead; a Ready node has
//     neither;
//   - its pods' Ready condition turns False, so the endpoints controllers take them out of
//     their Services;
//   - a pod is evicted (deleted) once it no longer tolerates a NoExecute taint: at once without
//     a toleration, else when the taint's timeAdded plus the smallest matching
//     tolerationSeconds has passed (the API server gives every pod 30 s by default).
//
// Without a Node (it was deleted) the pods bound to it are deleted, as Kubernetes' pod garbage
// collector does. Every decision is a function of the request: the node, its pods (owned), its
// Lease (related), Serf's view (facts), the configuration and the host's clock; the result
// asks to be called again when the next deadline (lease expiry, an eviction) comes.
package nodelifecycle

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/internal/kobj"
)

// Taint keys, as Kubernetes names them.
const (
	TaintUnreachable = "node.kubernetes.io/unreachable"
	TaintNotReady    = "node.kubernetes.io/not-ready"
)

// Taint effects.
const (
	EffectNoSchedule = "NoSchedule"
	EffectNoExecute  = "NoExecute"
)

// Facts the host passes.
const (
	FactMemberStatus = "member.status"
	FactMemberSince  = "member.sinceMillis"
)

// DefaultGracePeriod is how long a node may go without renewing its Lease (renewed every
// 10 s) before it is lost: two missed renewals.
const DefaultGracePeriod = 20 * time.Second

// Config is the policy's configuration (the request's config document).
type Config struct {
	// GracePeriodMillis is the lease grace period; 0 means DefaultGracePeriod.
	GracePeriodMillis int64 `json:"gracePeriodMillis,omitempty"`
}

func (c Config) gracePeriod() time.Duration {
	if c.GracePeriodMillis <= 0 {
		return DefaultGracePeriod
	}
	return time.Duration(c.GracePeriodMillis) * time.Millisecond
}

// Policy is the node lifecycle controller policy; it implements sdk.Reconciler.
type Policy struct{}

// decision collects one reconcile's result.
type decision struct {
	res     abi.ReconcileResult
	now     time.Time
	requeue time.Time
}

func (d *decision) act(verb string, obj json.RawMessage) int {
	d.res.Actions = append(d.res.Actions, abi.Action{Verb: verb, Object: obj})
	return len(d.res.Actions) - 1
}

func (d *decision) event(typ, reason, message string, action int) {
	ev := abi.Event{Type: typ, Reason: reason, Message: message}
	if action >= 0 {
		ev.Action = &action
	}
	d.res.Events = append(d.res.Events, ev)
}

// wakeAt asks to be called again at t (the earliest of all asked).
func (d *decision) wakeAt(t time.Time) {
	if t.After(d.now) && (d.requeue.IsZero() || t.Before(d.requeue)) {
		d.requeue = t
	}
}

// Reconcile decides for one node.
func (Policy) Reconcile(req *abi.ReconcileRequest) (*abi.ReconcileResult, error) {
	var cfg Config
	if len(req.Config) > 0 {
		if err := json.Unmarshal(req.Config, &cfg); err != nil {
			return nil, fmt.Errorf("nodelifecycle: config: %w", err)
		}
	}
	d := &decision{now: time.UnixMilli(req.NowMillis)}
	pods := make([]*kobj.Pod, 0, len(req.Owned))
	for _, raw := range req.Owned {
		p, err := kobj.DecodePod(raw)
		if err != nil {
			return nil, err
		}
		pods = append(pods, p)
	}
	if len(req.Object) == 0 {
		// The node is gone: nobody will run or stop its pods.
		for _, p := range pods {
			if !p.Meta.Deleting() {
				d.act(abi.VerbDelete, p.Ref(false))
			}
		}
		return &d.res, nil
	}
	node, err := kobj.DecodeNode(req.Object)
	if err != nil {
		return nil, err
	}
	var lease *kobj.Lease
	for _, raw := range req.Related {
		if l, err := kobj.DecodeLease(raw); err == nil && l.Raw["kind"] == "Lease" {
			lease = l
		}
	}

	lost, why := d.lost(node, lease, req.Facts, cfg.gracePeriod())
	statusChanged := false
	if lost {
		statusChanged = markUnknown(node, why, d.now)
	}
	ready := "Unknown"
	if c := node.Condition("Ready"); c != nil {
		ready = c.Status
	}
	taintsChanged := setTaints(node, ready, d.now)
	if statusChanged {
		i := d.act(abi.VerbUpdateStatus, node.JSON())
		d.event("Normal", "NodeNotReady", fmt.Sprintf("Node %s status is now: NodeNotReady (%s)", node.Meta.Name, why), i)
	}
	if taintsChanged {
		d.act(abi.VerbUpdate, node.JSON())
	}
	noExecute := make([]kobj.Taint, 0, 1)
	for _, t := range node.Spec.Taints {
		if t.Effect == EffectNoExecute {
			noExecute = append(noExecute, t)
		}
	}
	for _, p := range pods {
		if !p.Active() {
			continue
		}
		if ready != "True" && p.Ready() {
			markPodNotReady(p, d.now)
			d.act(abi.VerbUpdateStatus, p.JSON())
		}
		if at, evict := evictionTime(p.Spec.Tolerations, noExecute, d.now); evict {
			if !at.After(d.now) {
				i := d.act(abi.VerbDelete, p.Ref(false))
				d.event("Normal", "TaintManagerEviction", fmt.Sprintf("Marking for deletion Pod %s/%s", p.Meta.Namespace, p.Meta.Name), i)
			} else {
				d.wakeAt(at)
			}
		}
	}
	if !d.requeue.IsZero() {
		d.res.RequeueAfterMillis = max(d.requeue.Sub(d.now).Milliseconds(), 1)
	}
	return &d.res, nil
}

// lost reports whether the node is lost and why; for a node that is not, it asks to be called
// again when its lease would expire.
func (d *decision) lost(node *kobj.Node, lease *kobj.Lease, facts map[string]string, grace time.Duration) (bool, string) {
	// heard is the last time the node showed it was alive: its Lease renewal, its Ready
	// heartbeat, or (never heard from) its registration.
	heard := node.Meta.Created()
	if lease != nil && lease.Spec.RenewTime != nil && lease.Spec.RenewTime.After(heard) {
		heard = *lease.Spec.RenewTime
	}
	if c := node.Condition("Ready"); c != nil && c.LastHeartbeatTime != nil && c.LastHeartbeatTime.After(heard) {
		heard = *c.LastHeartbeatTime
	}
	switch status := facts[FactMemberStatus]; status {
	case "failed", "left":
		since := time.UnixMilli(0)
		if ms, err := strconv.ParseInt(facts[FactMemberSince], 10, 64); err == nil {
			since = time.UnixMilli(ms)
		}
		// A node that renewed its Lease after Serf gave it up is alive (its gossip is cut,
		// its API connection is not).
		if !heard.After(since) {
			return true, fmt.Sprintf("Serf reports its member %s", status)
		}
	}
	if heard.IsZero() {
		return false, ""
	}
	expiry := heard.Add(grace)
	if d.now.After(expiry) {
		return true, fmt.Sprintf("Kubelet stopped posting node status: no Lease renewal for %s", d.now.Sub(heard).Truncate(time.Second))
	}
	d.wakeAt(expiry.Add(time.Millisecond))
	return false, ""
}

// nodeConditions are the conditions a lost node can no longer vouch for.
var nodeConditions = []string{"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}

// markUnknown turns the node's conditions Unknown; it reports whether any changed.
func markUnknown(node *kobj.Node, why string, now time.Time) bool {
	conds := slices.Clone(node.Status.Conditions)
	changed := false
	t := now.UTC().Truncate(time.Second)
	for _, typ := range nodeConditions {
		i := slices.IndexFunc(conds, func(c kobj.NodeCondition) bool { return c.Type == typ })
		if i < 0 {
			if typ != "Ready" {
				continue
			}
			conds = append(conds, kobj.NodeCondition{Type: "Ready", Status: "Unknown", Reason: "NodeStatusNeverUpdated",
				Message: "Kubelet never posted node status.", LastHeartbeatTime: &t, LastTransitionTime: &t})
			changed = true
			continue
		}
		if conds[i].Status == "Unknown" {
			continue
		}
		conds[i].Status, conds[i].Reason, conds[i].Message = "Unknown", "NodeStatusUnknown", why+"."
		conds[i].LastTransitionTime = &t
		changed = true
	}
	if changed {
		node.SetConditions(conds)
	}
	return changed
}

// setTaints gives the node the taints its Ready status calls for, keeping every other taint
// and the timeAdded of those it already has; it reports whether they changed.
func setTaints(node *kobj.Node, ready string, now time.Time) bool {
	var wantKey string
	switch ready {
	case "Unknown":
		wantKey = TaintUnreachable
	case "False":
		wantKey = TaintNotReady
	}
	// The API keeps whole seconds: round up, so no pod is evicted before its toleration.
	t := now.UTC().Truncate(time.Second)
	if t.Before(now) {
		t = t.Add(time.Second)
	}
	var out []kobj.Taint
	has := map[string]bool{}
	changed := false
	for _, taint := range node.Spec.Taints {
		ours := taint.Key == TaintUnreachable || taint.Key == TaintNotReady
		if ours && (taint.Key != wantKey || (taint.Effect != EffectNoExecute && taint.Effect != EffectNoSchedule)) {
			changed = true
			continue
		}
		if ours {
			has[taint.Effect] = true
		}
		out = append(out, taint)
	}
	if wantKey != "" {
		if !has[EffectNoSchedule] {
			out = append(out, kobj.Taint{Key: wantKey, Effect: EffectNoSchedule})
			changed = true
		}
		if !has[EffectNoExecute] {
			out = append(out, kobj.Taint{Key: wantKey, Effect: EffectNoExecute, TimeAdded: &t})
			changed = true
		}
	}
	if changed {
		node.SetTaints(out)
	}
	return changed
}

// markPodNotReady turns the pod's Ready condition False, as nodeutil.MarkPodsNotReady does.
func markPodNotReady(p *kobj.Pod, now time.Time) {
	conds := slices.Clone(p.Status.Conditions)
	t := now.UTC().Truncate(time.Second)
	for i := range conds {
		if conds[i].Type == "Ready" {
			conds[i].Status = "False"
			conds[i].LastTransitionTime = &t
		}
	}
	p.SetConditions(conds)
}

// evictionTime is when a pod must leave a node with these NoExecute taints (the taint
// eviction controller's rule): at once if a taint is not tolerated, else the earliest
// timeAdded plus smallest tolerationSeconds among the tolerations used; evict is false when
// the pod tolerates every taint forever (or there is none).
func evictionTime(tols []kobj.Toleration, taints []kobj.Taint, now time.Time) (at time.Time, evict bool) {
	for _, taint := range taints {
		added := now
		if taint.TimeAdded != nil {
			added = *taint.TimeAdded
		}
		tolerated := false
		for _, tol := range tols {
			if !tol.Tolerates(taint) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds == nil {
				continue
			}
			fire := added.Add(time.Duration(max(*tol.TolerationSeconds, 0)) * time.Second)
			if !evict || fire.Before(at) {
				at, evict = fire, true
			}
		}
		if !tolerated {
			return now, true
		}
	}
	return at, evict
}
