package kobj

import "fmt"

// ReplicaSetStatus is apps/v1 ReplicaSetStatus.
type ReplicaSetStatus struct {
	Replicas             int32       `json:"replicas"`
	FullyLabeledReplicas int32       `json:"fullyLabeledReplicas,omitempty"`
	ReadyReplicas        int32       `json:"readyReplicas,omitempty"`
	AvailableReplicas    int32       `json:"availableReplicas,omitempty"`
	TerminatingReplicas  *int32      `json:"terminatingReplicas,omitempty"`
	ObservedGeneration   int64       `json:"observedGeneration,omitempty"`
	Conditions           []Condition `json:"conditions,omitempty"`
}

// ReplicaSet is an apps/v1 ReplicaSet.
type ReplicaSet struct {
	Object
	Spec struct {
		Replicas        *int32         `json:"replicas,omitempty"`
		MinReadySeconds int32          `json:"minReadySeconds,omitempty"`
		Selector        *LabelSelector `json:"selector,omitempty"`
		Template        Template       `json:"template,omitempty"`
	} `json:"spec"`
	Status ReplicaSetStatus `json:"status"`
}

// DecodeReplicaSet reads a ReplicaSet.
func DecodeReplicaSet(b []byte) (*ReplicaSet, error) {
	rs := &ReplicaSet{}
	if err := decode(b, &rs.Object, rs); err != nil {
		return nil, fmt.Errorf("decode replicaset: %w", err)
	}
	return rs, nil
}

// Replicas is spec.replicas (defaulted to 1 by the API server).
func (rs *ReplicaSet) Replicas() int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

// SetReplicas sets spec.replicas.
func (rs *ReplicaSet) SetReplicas(n int32) {
	rs.Spec.Replicas = &n
	rs.Set(n, "spec", "replicas")
}

// SetMinReadySeconds sets spec.minReadySeconds.
func (rs *ReplicaSet) SetMinReadySeconds(n int32) {
	rs.Spec.MinReadySeconds = n
	rs.Set(n, "spec", "minReadySeconds")
}

// RollingUpdate is apps/v1 RollingUpdateDeployment.
type RollingUpdate struct {
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
	MaxSurge       *IntOrString `json:"maxSurge,omitempty"`
}

// DeploymentStatus is apps/v1 DeploymentStatus.
type DeploymentStatus struct {
	ObservedGeneration  int64       `json:"observedGeneration,omitempty"`
	Replicas            int32       `json:"replicas,omitempty"`
	UpdatedReplicas     int32       `json:"updatedReplicas,omitempty"`
	ReadyReplicas       int32       `json:"readyReplicas,omitempty"`
	AvailableReplicas   int32       `json:"availableReplicas,omitempty"`
	UnavailableReplicas int32       `json:"unavailableReplicas,omitempty"`
	TerminatingReplicas *int32      `json:"terminatingReplicas,omitempty"`
	Conditions          []Condition `json:"conditions,omitempty"`
	CollisionCount      *int32      `json:"collisionCount,omitempty"`
}

// Deployment is an apps/v1 Deployment.
type Deployment struct {
	Object
	Spec struct {
		Replicas        *int32         `json:"replicas,omitempty"`
		Selector        *LabelSelector `json:"selector,omitempty"`
		Template        Template       `json:"template,omitempty"`
		MinReadySeconds int32          `json:"minReadySeconds,omitempty"`
		Strategy        struct {
			Type          string         `json:"type,omitempty"`
			RollingUpdate *RollingUpdate `json:"rollingUpdate,omitempty"`
		} `json:"strategy"`
		RevisionHistoryLimit    *int32 `json:"revisionHistoryLimit,omitempty"`
		Paused                  bool   `json:"paused,omitempty"`
		ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	} `json:"spec"`
	Status DeploymentStatus `json:"status"`
}

// DecodeDeployment reads a Deployment.
func DecodeDeployment(b []byte) (*Deployment, error) {
	d := &Deployment{}
	if err := decode(b, &d.Object, d); err != nil {
		return nil, fmt.Errorf("decode deployment: %w", err)
	}
	return d, nil
}

// Replicas is spec.replicas.
func (d *Deployment) Replicas() int32 {
	if d.Spec.Replicas == nil {
		return 0
	}
	return *d.Spec.Replicas
}
