package kobj

import (
	"fmt"
	"time"
)

// Taint is core/v1 Taint.
type Taint struct {
	Key       string     `json:"key"`
	Value     string     `json:"value,omitempty"`
	Effect    string     `json:"effect"`
	TimeAdded *time.Time `json:"timeAdded,omitempty"`
}

// Toleration is core/v1 Toleration.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// Tolerates is Toleration.ToleratesTaint: the effect matches (empty tolerates every effect),
// the key matches (empty with Exists tolerates every key), and the value matches by the
// operator (Equal, the default, or Exists).
func (t Toleration) Tolerates(taint Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case "Exists":
		return true
	case "", "Equal":
		return t.Value == taint.Value
	}
	return false
}

// NodeCondition is core/v1 NodeCondition.
type NodeCondition struct {
	Type               string     `json:"type"`
	Status             string     `json:"status"`
	LastHeartbeatTime  *time.Time `json:"lastHeartbeatTime,omitempty"`
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
	Reason             string     `json:"reason,omitempty"`
	Message            string     `json:"message,omitempty"`
}

// Node is a core/v1 Node: its taints and conditions.
type Node struct {
	Object
	Spec struct {
		Taints []Taint `json:"taints,omitempty"`
	} `json:"spec"`
	Status struct {
		Conditions []NodeCondition `json:"conditions,omitempty"`
	} `json:"status"`
}

// DecodeNode reads a node.
func DecodeNode(b []byte) (*Node, error) {
	n := &Node{}
	if err := decode(b, &n.Object, n); err != nil {
		return nil, fmt.Errorf("decode node: %w", err)
	}
	return n, nil
}

// Condition returns the condition of type t, or nil.
func (n *Node) Condition(t string) *NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// SetConditions replaces status.conditions.
func (n *Node) SetConditions(c []NodeCondition) {
	n.Status.Conditions = c
	n.Set(c, "status", "conditions")
}

// SetTaints replaces spec.taints.
func (n *Node) SetTaints(t []Taint) {
	n.Spec.Taints = t
	if len(t) == 0 {
		n.Set(nil, "spec", "taints")
		return
	}
	n.Set(t, "spec", "taints")
}

// Lease is a coordination.k8s.io/v1 Lease: when its holder last renewed it.
type Lease struct {
	Object
	Spec struct {
		HolderIdentity       *string    `json:"holderIdentity,omitempty"`
		LeaseDurationSeconds *int32     `json:"leaseDurationSeconds,omitempty"`
		RenewTime            *time.Time `json:"renewTime,omitempty"`
	} `json:"spec"`
}

// DecodeLease reads a lease.
func DecodeLease(b []byte) (*Lease, error) {
	l := &Lease{}
	if err := decode(b, &l.Object, l); err != nil {
		return nil, fmt.Errorf("decode lease: %w", err)
	}
	return l, nil
}
