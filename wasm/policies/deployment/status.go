package deployment

import (
	"fmt"
	"math"
	"time"

	"github.com/skiff-sh/skiff/wasm/policies/internal/kobj"
)

// Condition types and reasons of pkg/controller/deployment/util.
const (
	condAvailable      = "Available"
	condProgressing    = "Progressing"
	condReplicaFailure = "ReplicaFailure"

	reasonNewRSCreated   = "NewReplicaSetCreated"
	reasonFoundNewRS     = "FoundNewReplicaSet"
	reasonRSUpdated      = "ReplicaSetUpdated"
	reasonNewRSAvailable = "NewReplicaSetAvailable"
	reasonTimedOut       = "ProgressDeadlineExceeded"
	reasonPaused         = "DeploymentPaused"
	reasonResumed        = "DeploymentResumed"
	reasonMinAvailable   = "MinimumReplicasAvailable"
	reasonMinUnavailable = "MinimumReplicasUnavailable"
	reasonFailedRSCreate = "ReplicaSetCreateError"
)

func (s *state) newCondition(typ, status, reason, msg string) kobj.Condition {
	now := s.now.Truncate(time.Second)
	return kobj.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastUpdateTime: &now, LastTransitionTime: &now}
}

func getCondition(st *kobj.DeploymentStatus, typ string) *kobj.Condition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == typ {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition is SetDeploymentCondition: no change for the same status and reason; the
// transition time kept for the same status.
func setCondition(st *kobj.DeploymentStatus, c kobj.Condition) {
	cur := getCondition(st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

func removeCondition(st *kobj.DeploymentStatus, typ string) {
	var out []kobj.Condition
	for _, c := range st.Conditions {
		if c.Type != typ {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

func hasProgressDeadline(d *kobj.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

// deploymentComplete is DeploymentComplete.
func deploymentComplete(d *kobj.Deployment, st *kobj.DeploymentStatus) bool {
	return st.UpdatedReplicas == d.Replicas() && st.Replicas == d.Replicas() &&
		st.AvailableReplicas == d.Replicas() && st.ObservedGeneration >= d.Meta.Generation
}

// deploymentProgressing is DeploymentProgressing: more updated, fewer old, more ready or more
// available replicas than the last status said.
func deploymentProgressing(d *kobj.Deployment, st *kobj.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas || st.AvailableReplicas > old.AvailableReplicas
}

// deploymentTimedOut is DeploymentTimedOut.
func deploymentTimedOut(d *kobj.Deployment, st *kobj.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := getCondition(st, condProgressing)
	if c == nil || c.Reason == reasonNewRSAvailable {
		return false
	}
	if c.Reason == reasonTimedOut {
		return true
	}
	if c.LastUpdateTime == nil {
		return false
	}
	return c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Before(now)
}

// calculateStatus is sync.go's calculateStatus.
func (s *state) calculateStatus(all []*kobj.ReplicaSet, newRS *kobj.ReplicaSet) kobj.DeploymentStatus {
	d := s.d
	available := availableReplicas(all)
	unavailable := max(specReplicas(all)-available, 0)
	st := kobj.DeploymentStatus{
		ObservedGeneration:  d.Meta.Generation,
		Replicas:            actualReplicas(all),
		UpdatedReplicas:     actualReplicas([]*kobj.ReplicaSet{newRS}),
		ReadyReplicas:       readyReplicas(all),
		AvailableReplicas:   available,
		UnavailableReplicas: unavailable,
		TerminatingReplicas: terminatingReplicas(all),
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          append([]kobj.Condition(nil), d.Status.Conditions...),
	}
	if available >= d.Replicas()-maxUnavailable(d) {
		setCondition(&st, s.newCondition(condAvailable, "True", reasonMinAvailable, "Deployment has minimum availability."))
	} else {
		setCondition(&st, s.newCondition(condAvailable, "False", reasonMinUnavailable, "Deployment does not have minimum availability."))
	}
	return st
}

// syncStatus is syncDeploymentStatus.
func (s *state) syncStatus(all []*kobj.ReplicaSet, newRS *kobj.ReplicaSet) {
	s.d.Status = s.calculateStatus(all, newRS)
}

// syncRolloutStatus is progress.go's syncRolloutStatus, with requeueStuckDeployment.
func (s *state) syncRolloutStatus(all []*kobj.ReplicaSet, newRS *kobj.ReplicaSet) {
	d := s.d
	st := s.calculateStatus(all, newRS)
	if !hasProgressDeadline(d) {
		removeCondition(&st, condProgressing)
	}
	cur := getCondition(&d.Status, condProgressing)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == reasonNewRSAvailable
	if hasProgressDeadline(d) && !complete {
		switch {
		case deploymentComplete(d, &st):
			msg := fmt.Sprintf("Deployment %q has successfully progressed.", d.Meta.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Meta.Name)
			}
			setCondition(&st, s.newCondition(condProgressing, "True", reasonNewRSAvailable, msg))
		case deploymentProgressing(d, &st):
			msg := fmt.Sprintf("Deployment %q is progressing.", d.Meta.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Meta.Name)
			}
			c := s.newCondition(condProgressing, "True", reasonRSUpdated, msg)
			if cur != nil {
				if cur.Status == "True" {
					c.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&st, condProgressing)
			}
			setCondition(&st, c)
		case deploymentTimedOut(d, &st, s.now):
			msg := fmt.Sprintf("Deployment %q has timed out progressing.", d.Meta.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Meta.Name)
			}
			setCondition(&st, s.newCondition(condProgressing, "False", reasonTimedOut, msg))
		}
	}
	if c := replicaFailure(all, newRS); c != nil {
		setCondition(&st, *c)
	} else {
		removeCondition(&st, condReplicaFailure)
	}
	d.Status = st
	// requeueStuckDeployment: look again when the deadline passes.
	c := getCondition(&st, condProgressing)
	if hasProgressDeadline(d) && c != nil && c.LastUpdateTime != nil && !deploymentComplete(d, &st) && c.Reason != reasonTimedOut {
		after := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(s.now)
		s.requeue = max(after, 0) + time.Second
	}
}

// replicaFailure is getReplicaFailures: the new ReplicaSet's ReplicaFailure condition.
func replicaFailure(all []*kobj.ReplicaSet, newRS *kobj.ReplicaSet) *kobj.Condition {
	check := all
	if newRS != nil {
		check = []*kobj.ReplicaSet{newRS}
	}
	for _, rs := range check {
		if rs == nil {
			continue
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == condReplicaFailure {
				c := c
				return &c
			}
		}
	}
	return nil
}

// checkPausedConditions marks a paused Deployment's progress Unknown, and its resumption.
func (s *state) checkPausedConditions() {
	d := s.d
	if !hasProgressDeadline(d) {
		return
	}
	c := getCondition(&d.Status, condProgressing)
	if c != nil && c.Reason == reasonTimedOut {
		return
	}
	paused := c != nil && c.Reason == reasonPaused
	switch {
	case d.Spec.Paused && !paused:
		setCondition(&d.Status, s.newCondition(condProgressing, "Unknown", reasonPaused, "Deployment is paused"))
	case !d.Spec.Paused && paused:
		setCondition(&d.Status, s.newCondition(condProgressing, "Unknown", reasonResumed, "Deployment is resumed"))
	}
}
