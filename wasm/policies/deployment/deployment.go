// Package deployment is the built-in Deployment controller policy: Kubernetes'
// pkg/controller/deployment (sync.go, rolling.go, recreate.go, progress.go and
// util/deployment_util.go) ported to a pure function for the reconcile hook (../../ABI.md).
// Given a Deployment, the ReplicaSets it controls and the orphan ReplicaSets its selector
// matches, it answers the writes Kubernetes' controller would make in one sync:
//
//   - the new ReplicaSet "<deployment>-<pod-template-hash>", its template and selector carrying
//     the pod-template-hash label, created or found (a ReplicaSet whose template equals the
//     Deployment's but for that label — so `kubectl rollout undo`, which patches an old template
//     back, reuses the old ReplicaSet);
//   - the revision annotation on the Deployment and its new ReplicaSet (max old + 1, with the
//     revision-history annotation), the Deployment's other annotations copied to the new
//     ReplicaSet (kubernetes.io/change-cause), desired- and max-replicas annotations;
//   - RollingUpdate within maxSurge/maxUnavailable, Recreate (old pods gone before new ones),
//     proportional scaling of a Deployment scaled mid-rollout, pause (scaling only), cleanup of
//     old ReplicaSets beyond revisionHistoryLimit;
//   - status: observedGeneration, replica counts, the Available and Progressing conditions with
//     Kubernetes' reasons (NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated,
//     NewReplicaSetAvailable, ProgressDeadlineExceeded, DeploymentPaused, DeploymentResumed,
//     MinimumReplicasAvailable, MinimumReplicasUnavailable), and a request to be called again at
//     the progress deadline.
//
// Where Kubernetes writes the Deployment several times in one sync, the policy answers one
// update of its metadata and one of its status. Where Kubernetes lists pods (Recreate waits for
// old pods to be gone), the policy reads the old ReplicaSets' status (replicas and
// terminatingReplicas). The module is built from ./module.
package deployment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/internal/kobj"
)

// Policy is the Deployment controller policy; it implements sdk.Reconciler.
type Policy struct{}

// state is one reconcile: the Deployment and ReplicaSets as the policy has changed them so far.
type state struct {
	d      *kobj.Deployment
	rsList []*kobj.ReplicaSet
	now    time.Time
	res    *abi.ReconcileResult
	// rsAction is the index of the pending create or update of a ReplicaSet, by name.
	rsAction    map[string]int
	deleted     map[string]bool
	metaChanged bool
	requeue     time.Duration
}

// Reconcile answers the writes for one Deployment.
func (Policy) Reconcile(req *abi.ReconcileRequest) (*abi.ReconcileResult, error) {
	res := &abi.ReconcileResult{}
	if len(req.Object) == 0 {
		return res, nil
	}
	d, err := kobj.DecodeDeployment(req.Object)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Key, err)
	}
	origStatus := kobj.MarshalStatus(d.Status)
	s := &state{d: d, now: time.UnixMilli(req.NowMillis).UTC(), res: res, rsAction: map[string]int{}, deleted: map[string]bool{}}
	owned, err := decodeAll(req.Owned)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Key, err)
	}
	orphans, err := decodeAll(req.Orphans)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Key, err)
	}
	s.rsList = s.claim(owned, orphans)
	if err := s.sync(); err != nil {
		return nil, fmt.Errorf("%s: %w", req.Key, err)
	}
	// The Deployment's own writes come last: its metadata (revision), then its status.
	if s.metaChanged {
		res.Actions = append(res.Actions, abi.Action{Verb: abi.VerbUpdate, Object: d.JSON()})
	}
	if st := kobj.MarshalStatus(d.Status); !bytes.Equal(st, origStatus) {
		d.Set(d.Status, "status")
		res.Actions = append(res.Actions, abi.Action{Verb: abi.VerbUpdateStatus, Object: d.JSON()})
	}
	if s.requeue > 0 {
		res.RequeueAfterMillis = s.requeue.Milliseconds()
	}
	return res, nil
}

func decodeAll(raw []json.RawMessage) ([]*kobj.ReplicaSet, error) {
	out := make([]*kobj.ReplicaSet, 0, len(raw))
	for _, b := range raw {
		rs, err := kobj.DecodeReplicaSet(b)
		if err != nil {
			return nil, err
		}
		out = append(out, rs)
	}
	return out, nil
}

// claim is ClaimReplicaSets: controlled ReplicaSets that stop matching are released, matching
// orphans adopted (unless the Deployment is being deleted).
func (s *state) claim(owned, orphans []*kobj.ReplicaSet) []*kobj.ReplicaSet {
	d := s.d
	var out []*kobj.ReplicaSet
	for _, rs := range owned {
		if d.Spec.Selector.Matches(rs.Meta.Labels) {
			out = append(out, rs)
			continue
		}
		if rs.Meta.Deleting() {
			continue
		}
		var refs []kobj.OwnerReference
		for _, r := range rs.Meta.OwnerReferences {
			if r.UID != d.Meta.UID {
				refs = append(refs, r)
			}
		}
		rs.SetOwnerReferences(refs)
		s.res.Actions = append(s.res.Actions, abi.Action{Verb: abi.VerbUpdate, Object: rs.JSON()})
	}
	if d.Meta.Deleting() {
		return out
	}
	for _, rs := range orphans {
		if rs.Meta.ControllerRef() != nil || rs.Meta.Deleting() || !d.Spec.Selector.Matches(rs.Meta.Labels) {
			continue
		}
		rs.SetOwnerReferences(append(append([]kobj.OwnerReference(nil), rs.Meta.OwnerReferences...),
			kobj.NewControllerRef("apps/v1", "Deployment", &d.Meta)))
		s.writeRS(rs)
		out = append(out, rs)
	}
	return out
}

// writeRS queues the ReplicaSet's current document: folded into its pending create or update.
func (s *state) writeRS(rs *kobj.ReplicaSet) int {
	if i, ok := s.rsAction[rs.Meta.Name]; ok {
		s.res.Actions[i].Object = rs.JSON()
		return i
	}
	i := len(s.res.Actions)
	s.res.Actions = append(s.res.Actions, abi.Action{Verb: abi.VerbUpdate, Object: rs.JSON()})
	s.rsAction[rs.Meta.Name] = i
	return i
}

func (s *state) event(typ, reason, msg string, action int) {
	s.res.Events = append(s.res.Events, abi.Event{Type: typ, Reason: reason, Message: msg, Action: &action})
}

// sync is syncDeployment.
func (s *state) sync() error {
	d := s.d
	if d.Meta.Deleting() {
		newRS, oldRSs, err := s.allReplicaSets(false)
		if err != nil {
			return err
		}
		s.syncStatus(append(oldRSs, newRS), newRS)
		return nil
	}
	s.checkPausedConditions()
	if d.Spec.Paused {
		return s.scaleOnly()
	}
	scaling, err := s.isScalingEvent()
	if err != nil {
		return err
	}
	if scaling {
		return s.scaleOnly()
	}
	if d.Spec.Strategy.Type == "Recreate" {
		return s.rolloutRecreate()
	}
	return s.rolloutRolling()
}

// allReplicaSets is getAllReplicaSetsAndSyncRevision: the new ReplicaSet (created if asked and
// missing) and all the old ones.
func (s *state) allReplicaSets(create bool) (*kobj.ReplicaSet, []*kobj.ReplicaSet, error) {
	_, allOld := findOldReplicaSets(s.d, s.rsList)
	newRS, err := s.newReplicaSet(allOld, create)
	return newRS, allOld, err
}

// errCollision stops a reconcile whose new ReplicaSet name is taken by a different template;
// the collision count in status changes the hash for the next one.
type errCollision struct{ name string }

func (e errCollision) Error() string { return "replicaset name " + e.name + " is taken" }

// newReplicaSet is getNewReplicaSet.
func (s *state) newReplicaSet(oldRSs []*kobj.ReplicaSet, create bool) (*kobj.ReplicaSet, error) {
	d := s.d
	existing := findNewReplicaSet(d, s.rsList)
	newRevision := strconv.FormatInt(maxRevision(oldRSs)+1, 10)
	if existing != nil {
		annotationsChanged := setNewReplicaSetAnnotations(d, existing, newRevision, true)
		if annotationsChanged || existing.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			existing.SetMinReadySeconds(d.Spec.MinReadySeconds)
			s.writeRS(existing)
		}
		if setDeploymentRevision(d, existing.Meta.Annotations[RevisionAnnotation]) {
			s.metaChanged = true
		}
		if hasProgressDeadline(d) && getCondition(&d.Status, condProgressing) == nil {
			setCondition(&d.Status, s.newCondition(condProgressing, "True", reasonFoundNewRS, fmt.Sprintf("Found new replica set %q", existing.Meta.Name)))
		}
		return existing, nil
	}
	if !create {
		return nil, nil
	}
	hash := kobj.ComputeHash(d.Spec.Template, d.Status.CollisionCount)
	name := d.Meta.Name + "-" + hash
	for _, rs := range s.rsList {
		if rs.Meta.Name == name {
			// Taken by a ReplicaSet with another template: count the collision and retry.
			n := int32(1)
			if d.Status.CollisionCount != nil {
				n = *d.Status.CollisionCount + 1
			}
			d.Status.CollisionCount = &n
			return nil, errCollision{name}
		}
	}
	tmpl := d.Spec.Template.WithLabel(kobj.PodTemplateHashLabel, hash)
	sel := kobj.LabelSelector{MatchLabels: cloneMap(nil)}
	if d.Spec.Selector != nil {
		sel.MatchLabels = cloneMap(d.Spec.Selector.MatchLabels)
		sel.MatchExpressions = d.Spec.Selector.MatchExpressions
	}
	sel.MatchLabels[kobj.PodTemplateHashLabel] = hash
	doc, err := json.Marshal(map[string]any{
		"apiVersion": "apps/v1", "kind": "ReplicaSet",
		"metadata": map[string]any{
			"name": name, "namespace": d.Meta.Namespace, "labels": tmpl.Labels(),
			"ownerReferences": []kobj.OwnerReference{kobj.NewControllerRef("apps/v1", "Deployment", &d.Meta)},
		},
		"spec": map[string]any{"replicas": 0, "minReadySeconds": d.Spec.MinReadySeconds, "selector": sel, "template": tmpl},
	})
	if err != nil {
		return nil, fmt.Errorf("encode new replicaset: %w", err)
	}
	rs, err := kobj.DecodeReplicaSet(doc)
	if err != nil {
		return nil, err
	}
	created := s.now
	rs.Meta.CreationTimestamp = &created // sorts as the newest; never written
	allRSs := append(append([]*kobj.ReplicaSet(nil), oldRSs...), rs)
	replicas := newRSNewReplicas(d, allRSs, rs)
	rs.SetReplicas(replicas)
	setNewReplicaSetAnnotations(d, rs, newRevision, false)
	i := len(s.res.Actions)
	s.res.Actions = append(s.res.Actions, abi.Action{Verb: abi.VerbCreate, Object: rs.JSON()})
	s.rsAction[name] = i
	s.rsList = append(s.rsList, rs)
	if replicas > 0 {
		s.event("Normal", "ScalingReplicaSet", fmt.Sprintf("Scaled up replica set %s from 0 to %d", name, replicas), i)
	}
	if setDeploymentRevision(d, newRevision) {
		s.metaChanged = true
	}
	if hasProgressDeadline(d) {
		setCondition(&d.Status, s.newCondition(condProgressing, "True", reasonNewRSCreated, fmt.Sprintf("Created new replica set %q", name)))
	}
	return rs, nil
}

// isScalingEvent: an active ReplicaSet was sized for another spec.replicas.
func (s *state) isScalingEvent() (bool, error) {
	newRS, oldRSs, err := s.allReplicaSets(false)
	if err != nil {
		return false, err
	}
	for _, rs := range filterActive(append(oldRSs, newRS)) {
		desired, ok := kobj.Int32(rs.Meta.Annotations[DesiredReplicasAnnotation])
		if ok && desired != s.d.Replicas() {
			return true, nil
		}
	}
	return false, nil
}

// scaleOnly is sync: scaling of a paused Deployment or of one resized mid-rollout.
func (s *state) scaleOnly() error {
	newRS, oldRSs, err := s.allReplicaSets(false)
	if err != nil {
		return err
	}
	s.scale(newRS, oldRSs)
	if s.d.Spec.Paused {
		s.cleanup(oldRSs)
	}
	s.syncStatus(append(oldRSs, newRS), newRS)
	return nil
}

// scale is scale of sync.go, with proportional scaling.
func (s *state) scale(newRS *kobj.ReplicaSet, oldRSs []*kobj.ReplicaSet) {
	d := s.d
	if rs := findActiveOrLatest(newRS, oldRSs); rs != nil {
		if rs.Replicas() != d.Replicas() {
			s.scaleRS(rs, d.Replicas())
		}
		return
	}
	if isSaturated(d, newRS) {
		for _, old := range filterActive(oldRSs) {
			s.scaleRS(old, 0)
		}
		return
	}
	if !isRollingUpdate(d) {
		return
	}
	all := filterActive(append(append([]*kobj.ReplicaSet(nil), oldRSs...), newRS))
	allowed := int32(0)
	if d.Replicas() > 0 {
		allowed = d.Replicas() + maxSurge(d)
	}
	toAdd := allowed - specReplicas(all)
	switch {
	case toAdd > 0:
		bySize(all, true)
	case toAdd < 0:
		bySize(all, false)
	}
	sizes := map[*kobj.ReplicaSet]int32{}
	var added int32
	for _, rs := range all {
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[rs] = rs.Replicas() + p
			added += p
		} else {
			sizes[rs] = rs.Replicas()
		}
	}
	if len(all) > 0 {
		leftover := toAdd - added
		sizes[all[0]] = max(sizes[all[0]]+leftover, 0)
	}
	for _, rs := range all {
		s.scaleRS(rs, sizes[rs])
	}
}

// scaleRS is scaleReplicaSet: the size and the replicas annotations.
func (s *state) scaleRS(rs *kobj.ReplicaSet, size int32) {
	d := s.d
	old := rs.Replicas()
	sizeChanged := old != size
	if !sizeChanged && !replicasAnnotationsNeedUpdate(rs, d.Replicas(), d.Replicas()+maxSurge(d)) {
		return
	}
	rs.SetReplicas(size)
	setReplicasAnnotations(rs, d.Replicas(), d.Replicas()+maxSurge(d))
	i := s.writeRS(rs)
	if sizeChanged {
		op := "down"
		if size > old {
			op = "up"
		}
		s.event("Normal", "ScalingReplicaSet", fmt.Sprintf("Scaled %s replica set %s from %d to %d", op, rs.Meta.Name, old, size), i)
	}
}

// scaleAndRecord is scaleReplicaSetAndRecordEvent: nothing when the size is right.
func (s *state) scaleAndRecord(rs *kobj.ReplicaSet, size int32) bool {
	if rs.Replicas() == size {
		return false
	}
	s.scaleRS(rs, size)
	return true
}

// cleanup is cleanupDeployment: old ReplicaSets beyond revisionHistoryLimit, oldest revision
// first, only those fully scaled down and observed so.
func (s *state) cleanup(oldRSs []*kobj.ReplicaSet) {
	d := s.d
	if d.Spec.RevisionHistoryLimit == nil {
		return
	}
	var cleanable []*kobj.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && !rs.Meta.Deleting() {
			cleanable = append(cleanable, rs)
		}
	}
	diff := len(cleanable) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return
	}
	byRevision(cleanable)
	for _, rs := range cleanable[:diff] {
		_, pending := s.rsAction[rs.Meta.Name]
		if pending || rs.Status.Replicas != 0 || rs.Replicas() != 0 || rs.Meta.Generation > rs.Status.ObservedGeneration || rs.Meta.UID == "" {
			continue
		}
		i := len(s.res.Actions)
		s.res.Actions = append(s.res.Actions, abi.Action{Verb: abi.VerbDelete, Object: rs.Ref(true)})
		s.deleted[rs.Meta.Name] = true
		s.event("Normal", "DeletingReplicaSet", "Deleted old replica set {name}", i)
	}
}
