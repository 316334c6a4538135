package deployment

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/skiff-sh/skiff/wasm/policies/internal/kobj"
)

// Annotations of pkg/controller/deployment/util.
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	ChangeCauseAnnotation     = "kubernetes.io/change-cause"
	deprecatedRollbackTo      = "deprecated.deployment.rollback.to"
	// maxRevHistoryLengthInChars caps the revision-history annotation.
	maxRevHistoryLengthInChars = 2000
)

var annotationsToSkip = map[string]bool{
	kobj.LastAppliedAnnotation: true,
	RevisionAnnotation:         true,
	RevisionHistoryAnnotation:  true,
	DesiredReplicasAnnotation:  true,
	MaxReplicasAnnotation:      true,
	deprecatedRollbackTo:       true,
}

// revision is a ReplicaSet's revision annotation (0 when absent or malformed).
func revision(o *kobj.Object) int64 {
	v, _ := strconv.ParseInt(o.Meta.Annotations[RevisionAnnotation], 10, 64)
	return v
}

func maxRevision(rss []*kobj.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revision(&rs.Object))
	}
	return m
}

// copyAnnotationsToReplicaSet is copyDeploymentAnnotationsToReplicaSet: every annotation of
// the Deployment but the controller's own (so kubernetes.io/change-cause travels).
func copyAnnotationsToReplicaSet(d *kobj.Deployment, rs *kobj.ReplicaSet) bool {
	changed := false
	a := cloneMap(rs.Meta.Annotations)
	for k, v := range d.Meta.Annotations {
		if annotationsToSkip[k] || a[k] == v {
			continue
		}
		a[k] = v
		changed = true
	}
	if changed {
		rs.SetAnnotations(a)
	}
	return changed
}

// setNewReplicaSetAnnotations is SetNewReplicaSetAnnotations.
func setNewReplicaSetAnnotations(d *kobj.Deployment, rs *kobj.ReplicaSet, newRevision string, exists bool) bool {
	changed := copyAnnotationsToReplicaSet(d, rs)
	a := cloneMap(rs.Meta.Annotations)
	oldRevision := a[RevisionAnnotation]
	oldRevisionInt, err := strconv.ParseInt(oldRevision, 10, 64)
	if err != nil {
		if oldRevision != "" {
			return false
		}
		oldRevisionInt = 0
	}
	newRevisionInt, err := strconv.ParseInt(newRevision, 10, 64)
	if err != nil {
		return false
	}
	if oldRevisionInt < newRevisionInt {
		a[RevisionAnnotation] = newRevision
		changed = true
	}
	if oldRevision != "" && oldRevisionInt < newRevisionInt {
		history := a[RevisionHistoryAnnotation]
		old := strings.Split(history, ",")
		if len(old[0]) == 0 {
			a[RevisionHistoryAnnotation] = oldRevision
		} else {
			total := len(history) + len(oldRevision) + 1
			start := 0
			for total > maxRevHistoryLengthInChars && start < len(old) {
				total = total - len(old[start]) - 1
				start++
			}
			if total <= maxRevHistoryLengthInChars {
				a[RevisionHistoryAnnotation] = strings.Join(append(old[start:], oldRevision), ",")
			}
		}
	}
	if changed {
		rs.SetAnnotations(a)
	}
	if !exists && setReplicasAnnotations(rs, d.Replicas(), d.Replicas()+maxSurge(d)) {
		changed = true
	}
	return changed
}

// setDeploymentRevision is SetDeploymentRevision.
func setDeploymentRevision(d *kobj.Deployment, rev string) bool {
	if d.Meta.Annotations[RevisionAnnotation] == rev {
		return false
	}
	d.SetAnnotation(RevisionAnnotation, rev)
	return true
}

func replicasAnnotationsNeedUpdate(rs *kobj.ReplicaSet, desired, maxReplicas int32) bool {
	a := rs.Meta.Annotations
	return a[DesiredReplicasAnnotation] != strconv.Itoa(int(desired)) || a[MaxReplicasAnnotation] != strconv.Itoa(int(maxReplicas))
}

func setReplicasAnnotations(rs *kobj.ReplicaSet, desired, maxReplicas int32) bool {
	if !replicasAnnotationsNeedUpdate(rs, desired, maxReplicas) {
		return false
	}
	a := cloneMap(rs.Meta.Annotations)
	a[DesiredReplicasAnnotation] = strconv.Itoa(int(desired))
	a[MaxReplicasAnnotation] = strconv.Itoa(int(maxReplicas))
	rs.SetAnnotations(a)
	return true
}

func cloneMap(m map[string]string) map[string]string {
	c := make(map[string]string, len(m)+2)
	for k, v := range m {
		c[k] = v
	}
	return c
}

func isRollingUpdate(d *kobj.Deployment) bool { return d.Spec.Strategy.Type != "Recreate" }

// resolveFenceposts is ResolveFenceposts: surge rounds up, unavailability down, and both 0
// means one may be unavailable.
func resolveFenceposts(d *kobj.Deployment) (surge, unavailable int32) {
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil {
		ru = &kobj.RollingUpdate{}
	}
	surge, _ = ru.MaxSurge.Scaled(d.Replicas(), true)
	unavailable, _ = ru.MaxUnavailable.Scaled(d.Replicas(), false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// maxUnavailable is MaxUnavailable.
func maxUnavailable(d *kobj.Deployment) int32 {
	if !isRollingUpdate(d) || d.Replicas() == 0 {
		return 0
	}
	_, u := resolveFenceposts(d)
	return min(u, d.Replicas())
}

// maxSurge is MaxSurge.
func maxSurge(d *kobj.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	s, _ := resolveFenceposts(d)
	return s
}

func filterActive(rss []*kobj.ReplicaSet) []*kobj.ReplicaSet {
	var out []*kobj.ReplicaSet
	for _, rs := range rss {
		if rs != nil && rs.Replicas() > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func specReplicas(rss []*kobj.ReplicaSet) (n int32) {
	for _, rs := range rss {
		if rs != nil {
			n += rs.Replicas()
		}
	}
	return n
}

func actualReplicas(rss []*kobj.ReplicaSet) (n int32) {
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.Replicas
		}
	}
	return n
}

func readyReplicas(rss []*kobj.ReplicaSet) (n int32) {
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.ReadyReplicas
		}
	}
	return n
}

func availableReplicas(rss []*kobj.ReplicaSet) (n int32) {
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.AvailableReplicas
		}
	}
	return n
}

// terminatingReplicas sums status.terminatingReplicas; nil when no ReplicaSet reports it.
func terminatingReplicas(rss []*kobj.ReplicaSet) *int32 {
	var n int32
	known := false
	for _, rs := range rss {
		if rs != nil && rs.Status.TerminatingReplicas != nil {
			known = true
			n += *rs.Status.TerminatingReplicas
		}
	}
	if !known {
		return nil
	}
	return &n
}

// byCreation is ReplicaSetsByCreationTimestamp: older first, then by name.
func byCreation(rss []*kobj.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		a, b := rss[i].Meta.Created(), rss[j].Meta.Created()
		if a.Equal(b) {
			return rss[i].Meta.Name < rss[j].Meta.Name
		}
		return a.Before(b)
	})
}

// byRevision is ReplicaSetsByRevision: lower revision first, then older.
func byRevision(rss []*kobj.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		a, b := revision(&rss[i].Object), revision(&rss[j].Object)
		if a == b {
			ca, cb := rss[i].Meta.Created(), rss[j].Meta.Created()
			if ca.Equal(cb) {
				return rss[i].Meta.Name < rss[j].Meta.Name
			}
			return ca.Before(cb)
		}
		return a < b
	})
}

// bySize sorts larger first; ties older first (ReplicaSetsBySizeOlder) or newer first
// (ReplicaSetsBySizeNewer).
func bySize(rss []*kobj.ReplicaSet, newerFirst bool) {
	sort.SliceStable(rss, func(i, j int) bool {
		if rss[i].Replicas() == rss[j].Replicas() {
			a, b := rss[i].Meta.Created(), rss[j].Meta.Created()
			if a.Equal(b) {
				return rss[i].Meta.Name < rss[j].Meta.Name
			}
			if newerFirst {
				return b.Before(a)
			}
			return a.Before(b)
		}
		return rss[i].Replicas() > rss[j].Replicas()
	})
}

// findNewReplicaSet is FindNewReplicaSet: the oldest ReplicaSet whose template is the
// Deployment's.
func findNewReplicaSet(d *kobj.Deployment, rsList []*kobj.ReplicaSet) *kobj.ReplicaSet {
	sorted := append([]*kobj.ReplicaSet(nil), rsList...)
	byCreation(sorted)
	for _, rs := range sorted {
		if kobj.EqualIgnoreHash(rs.Spec.Template, d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// findOldReplicaSets is FindOldReplicaSets: the old ReplicaSets with pods, and all of them.
func findOldReplicaSets(d *kobj.Deployment, rsList []*kobj.ReplicaSet) (withPods, all []*kobj.ReplicaSet) {
	newRS := findNewReplicaSet(d, rsList)
	for _, rs := range rsList {
		if newRS != nil && rs == newRS {
			continue
		}
		all = append(all, rs)
		if rs.Replicas() != 0 {
			withPods = append(withPods, rs)
		}
	}
	return withPods, all
}

// findActiveOrLatest is FindActiveOrLatest.
func findActiveOrLatest(newRS *kobj.ReplicaSet, oldRSs []*kobj.ReplicaSet) *kobj.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	old := append([]*kobj.ReplicaSet(nil), oldRSs...)
	byCreation(old)
	for i, j := 0, len(old)-1; i < j; i, j = i+1, j-1 {
		old[i], old[j] = old[j], old[i]
	}
	all := filterActive(append(append([]*kobj.ReplicaSet(nil), old...), newRS))
	switch len(all) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return old[0]
	case 1:
		return all[0]
	}
	return nil
}

// isSaturated is IsSaturated.
func isSaturated(d *kobj.Deployment, rs *kobj.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := kobj.Int32(rs.Meta.Annotations[DesiredReplicasAnnotation])
	return ok && rs.Replicas() == d.Replicas() && desired == d.Replicas() && rs.Status.AvailableReplicas == d.Replicas()
}

// newRSNewReplicas is NewRSNewReplicas.
func newRSNewReplicas(d *kobj.Deployment, allRSs []*kobj.ReplicaSet, newRS *kobj.ReplicaSet) int32 {
	if !isRollingUpdate(d) {
		return d.Replicas()
	}
	surge, _ := resolveFenceposts(d)
	current := specReplicas(allRSs)
	maxTotal := d.Replicas() + surge
	if current >= maxTotal {
		return newRS.Replicas()
	}
	up := min(maxTotal-current, d.Replicas()-newRS.Replicas())
	return newRS.Replicas() + up
}

// proportion is GetProportion.
func proportion(rs *kobj.ReplicaSet, d *kobj.Deployment, toAdd, added int32) int32 {
	if rs == nil || rs.Replicas() == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := replicaSetFraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

// replicaSetFraction is getReplicaSetFraction.
func replicaSetFraction(rs *kobj.ReplicaSet, d *kobj.Deployment) int32 {
	if d.Replicas() == 0 {
		return -rs.Replicas()
	}
	deploymentReplicas := d.Replicas() + maxSurge(d)
	annotated, ok := kobj.Int32(rs.Meta.Annotations[MaxReplicasAnnotation])
	if !ok {
		annotated = d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	size := float64(rs.Replicas()*deploymentReplicas) / float64(annotated)
	return int32(math.Round(size)) - rs.Replicas()
}
