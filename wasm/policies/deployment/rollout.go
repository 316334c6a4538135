package deployment

import "github.com/skiff-sh/skiff/wasm/policies/internal/kobj"

// rolloutRolling is rolling.go's rolloutRolling.
func (s *state) rolloutRolling() error {
	newRS, oldRSs, err := s.allReplicaSets(true)
	if err != nil {
		return s.collided(err)
	}
	all := append(append([]*kobj.ReplicaSet(nil), oldRSs...), newRS)
	if s.reconcileNewReplicaSet(all, newRS) {
		s.syncRolloutStatus(all, newRS)
		return nil
	}
	if s.reconcileOldReplicaSets(all, filterActive(oldRSs), newRS) {
		s.syncRolloutStatus(all, newRS)
		return nil
	}
	if deploymentComplete(s.d, &s.d.Status) {
		s.cleanup(oldRSs)
	}
	s.syncRolloutStatus(all, newRS)
	return nil
}

// collided turns a name collision into a status write (the collision count) and a retry.
func (s *state) collided(err error) error {
	if _, ok := err.(errCollision); ok {
		s.requeue = 1
		return nil
	}
	return err
}

func (s *state) reconcileNewReplicaSet(all []*kobj.ReplicaSet, newRS *kobj.ReplicaSet) bool {
	d := s.d
	switch {
	case newRS.Replicas() == d.Replicas():
		return false
	case newRS.Replicas() > d.Replicas():
		return s.scaleAndRecord(newRS, d.Replicas())
	}
	return s.scaleAndRecord(newRS, newRSNewReplicas(d, all, newRS))
}

func (s *state) reconcileOldReplicaSets(all, oldRSs []*kobj.ReplicaSet, newRS *kobj.ReplicaSet) bool {
	d := s.d
	if specReplicas(oldRSs) == 0 {
		return false
	}
	minAvailable := d.Replicas() - maxUnavailable(d)
	newUnavailable := newRS.Replicas() - newRS.Status.AvailableReplicas
	maxScaledDown := specReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false
	}
	cleaned := s.cleanupUnhealthyReplicas(oldRSs, maxScaledDown)
	all = append(append([]*kobj.ReplicaSet(nil), oldRSs...), newRS)
	scaled := s.scaleDownOldReplicaSetsForRollingUpdate(all, oldRSs)
	return cleaned+scaled > 0
}

// cleanupUnhealthyReplicas scales down old ReplicaSets' unavailable pods first.
func (s *state) cleanupUnhealthyReplicas(oldRSs []*kobj.ReplicaSet, maxCleanup int32) int32 {
	sorted := append([]*kobj.ReplicaSet(nil), oldRSs...)
	byCreation(sorted)
	var total int32
	for _, rs := range sorted {
		if total >= maxCleanup {
			break
		}
		if rs.Replicas() == 0 || rs.Replicas() == rs.Status.AvailableReplicas {
			continue
		}
		n := min(maxCleanup-total, rs.Replicas()-rs.Status.AvailableReplicas)
		if n <= 0 {
			continue
		}
		s.scaleAndRecord(rs, rs.Replicas()-n)
		total += n
	}
	return total
}

func (s *state) scaleDownOldReplicaSetsForRollingUpdate(all, oldRSs []*kobj.ReplicaSet) int32 {
	d := s.d
	minAvailable := d.Replicas() - maxUnavailable(d)
	// An old ReplicaSet's status may not show its last scale-down yet: count no more available
	// pods than it is meant to have.
	var available int32
	for _, rs := range all {
		if rs != nil {
			available += min(rs.Status.AvailableReplicas, rs.Replicas())
		}
	}
	if available <= minAvailable {
		return 0
	}
	sorted := append([]*kobj.ReplicaSet(nil), oldRSs...)
	byCreation(sorted)
	target := available - minAvailable
	var total int32
	for _, rs := range sorted {
		if total >= target {
			break
		}
		if rs.Replicas() == 0 {
			continue
		}
		n := min(rs.Replicas(), target-total)
		s.scaleAndRecord(rs, rs.Replicas()-n)
		total += n
	}
	return total
}

// rolloutRecreate is recreate.go's rolloutRecreate: old pods all gone before new ones start.
func (s *state) rolloutRecreate() error {
	newRS, oldRSs, err := s.allReplicaSets(false)
	if err != nil {
		return err
	}
	all := append(append([]*kobj.ReplicaSet(nil), oldRSs...), newRS)
	scaledDown := false
	for _, rs := range filterActive(oldRSs) {
		if s.scaleAndRecord(rs, 0) {
			scaledDown = true
		}
	}
	if scaledDown {
		s.syncRolloutStatus(all, newRS)
		return nil
	}
	if oldPodsRunning(oldRSs) {
		s.syncRolloutStatus(all, newRS)
		return nil
	}
	if newRS == nil {
		newRS, oldRSs, err = s.allReplicaSets(true)
		if err != nil {
			return s.collided(err)
		}
		all = append(append([]*kobj.ReplicaSet(nil), oldRSs...), newRS)
	}
	s.scaleAndRecord(newRS, s.d.Replicas())
	if deploymentComplete(s.d, &s.d.Status) {
		s.cleanup(oldRSs)
	}
	s.syncRolloutStatus(all, newRS)
	return nil
}

// oldPodsRunning: an old ReplicaSet still reports pods, running or terminating, or has not yet
// observed its scale-down.
func oldPodsRunning(oldRSs []*kobj.ReplicaSet) bool {
	for _, rs := range oldRSs {
		if rs.Status.Replicas > 0 || (rs.Status.TerminatingReplicas != nil && *rs.Status.TerminatingReplicas > 0) {
			return true
		}
		if rs.Meta.Generation > rs.Status.ObservedGeneration && rs.Status.Replicas != 0 {
			return true
		}
	}
	return false
}
