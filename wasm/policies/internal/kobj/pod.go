package kobj

import (
	"encoding/json"
	"fmt"
	"time"
)

// Condition is a status condition of a pod, ReplicaSet or Deployment.
type Condition struct {
	Type               string     `json:"type"`
	Status             string     `json:"status"`
	LastUpdateTime     *time.Time `json:"lastUpdateTime,omitempty"`
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
	Reason             string     `json:"reason,omitempty"`
	Message            string     `json:"message,omitempty"`
}

// Pod is a pod: its node, phase, conditions and restarts.
type Pod struct {
	Object
	Spec struct {
		NodeName    string       `json:"nodeName,omitempty"`
		Tolerations []Toleration `json:"tolerations,omitempty"`
	} `json:"spec"`
	Status struct {
		Phase             string      `json:"phase,omitempty"`
		Conditions        []Condition `json:"conditions,omitempty"`
		ContainerStatuses []struct {
			RestartCount int32 `json:"restartCount"`
		} `json:"containerStatuses,omitempty"`
	} `json:"status"`
}

// DecodePod reads a pod.
func DecodePod(b []byte) (*Pod, error) {
	p := &Pod{}
	if err := decode(b, &p.Object, p); err != nil {
		return nil, fmt.Errorf("decode pod: %w", err)
	}
	return p, nil
}

// Active is controller.IsPodActive: not finished and not being deleted.
func (p *Pod) Active() bool {
	return p.Status.Phase != "Succeeded" && p.Status.Phase != "Failed" && !p.Meta.Deleting()
}

// Terminating is a pod being deleted that has not finished.
func (p *Pod) Terminating() bool {
	return p.Meta.Deleting() && p.Status.Phase != "Succeeded" && p.Status.Phase != "Failed"
}

// readyCondition is the Ready condition, or nil.
func (p *Pod) readyCondition() *Condition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == "Ready" {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// SetConditions replaces status.conditions.
func (p *Pod) SetConditions(c []Condition) {
	p.Status.Conditions = c
	p.Set(c, "status", "conditions")
}

// Ready is podutil.IsPodReady.
func (p *Pod) Ready() bool {
	c := p.readyCondition()
	return c != nil && c.Status == "True"
}

// ReadySince is when the pod last became ready (zero if unknown or not ready).
func (p *Pod) ReadySince() time.Time {
	if c := p.readyCondition(); c != nil && c.Status == "True" && c.LastTransitionTime != nil {
		return *c.LastTransitionTime
	}
	return time.Time{}
}

// AvailableAt is when a ready pod becomes available with minReadySeconds (podutil.IsPodAvailable:
// ready for longer than minReadySeconds); ok is false for a pod that is not ready.
func (p *Pod) AvailableAt(minReadySeconds int32) (at time.Time, ok bool) {
	if !p.Ready() {
		return time.Time{}, false
	}
	if minReadySeconds == 0 {
		return time.Time{}, true
	}
	since := p.ReadySince()
	if since.IsZero() {
		return time.Time{}, false
	}
	return since.Add(time.Duration(minReadySeconds) * time.Second), true
}

// Available is podutil.IsPodAvailable at now.
func (p *Pod) Available(minReadySeconds int32, now time.Time) bool {
	at, ok := p.AvailableAt(minReadySeconds)
	return ok && (minReadySeconds == 0 || at.Before(now))
}

// Restarts is the highest restart count of the pod's containers.
func (p *Pod) Restarts() int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n = max(n, c.RestartCount)
	}
	return n
}

// PhaseRank orders phases for deletion: Pending < Unknown < Running.
func (p *Pod) PhaseRank() int {
	switch p.Status.Phase {
	case "Pending", "":
		return 0
	case "Unknown":
		return 1
	case "Running":
		return 2
	}
	return 3
}

// MarshalStatus is a helper for policies writing status documents.
func MarshalStatus(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("kobj: encode status: %v", err))
	}
	return b
}
