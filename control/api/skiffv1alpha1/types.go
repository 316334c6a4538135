package skiffv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Hook names, as PolicyModuleSpec.Hooks lists them.
const (
	HookFilter    = "filter"
	HookScore     = "score"
	HookReconcile = "reconcile"
)

// MaxModuleBytes is the largest module accepted (16 MiB).
const MaxModuleBytes = 16 << 20

// PolicyModule is an uploaded wasm policy module. It is cluster-scoped,
// immutable, and named by the digest of its bytes (ObjectName(Digest(wasm))).
type PolicyModule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec PolicyModuleSpec `json:"spec"`
}

// PolicyModuleSpec holds the module. Wasm is write-only: it is sent on
// create, validated, and kept beside the object in the store (read it with
// the registry's module reader); objects read back carry Size and Hooks.
type PolicyModuleSpec struct {
	// Wasm is the module's bytes (base64 in JSON), on create only.
	Wasm []byte `json:"wasm,omitempty"`
	// Size is the module's length in bytes, set by the server.
	Size int64 `json:"size,omitempty"`
	// Hooks are the entry points the module implements ("filter", "score",
	// "reconcile"). A client may list the hooks it expects; the create fails
	// if the module lacks one. The server stores the hooks it detected.
	Hooks []string `json:"hooks,omitempty"`
}

// PolicyModuleList is a list of PolicyModules.
type PolicyModuleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []PolicyModule `json:"items"`
}

// SchedulingPolicy runs an uploaded module as a scheduler: pods whose
// spec.schedulerName is the policy's name are placed by it. Cluster-scoped.
type SchedulingPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SchedulingPolicySpec   `json:"spec"`
	Status SchedulingPolicyStatus `json:"status,omitempty"`
}

// SchedulingPolicySpec says which module runs and how it is configured.
type SchedulingPolicySpec struct {
	// Module is the content address of a PolicyModule: "sha256:<hex>".
	Module string `json:"module"`
	// Configuration, if set, is handed to the module's skiff_configure.
	Configuration *runtime.RawExtension `json:"configuration,omitempty"`
	// Shadow makes the policy a candidate that places no pod: each time the
	// scheduler places a pod of ShadowOf, the module decides the same pod on
	// the same nodes beside it, and status.shadow records how often the two
	// agree. A pod naming a shadow policy is not scheduled.
	Shadow bool `json:"shadow,omitempty"`
	// ShadowOf is the scheduler (a pod's spec.schedulerName) a shadow policy
	// runs beside; DefaultShadowOf when empty. Only for shadow policies.
	ShadowOf string `json:"shadowOf,omitempty"`
}

// DefaultShadowOf is the scheduler a shadow policy runs beside by default.
const DefaultShadowOf = "default-scheduler"

// Condition types of a SchedulingPolicy.
const (
	// ConditionAccepted is True once the API server accepted the spec (its
	// module exists and was validated on upload).
	ConditionAccepted = "Accepted"
	// ConditionLoaded is True while the scheduler runs the spec's module,
	// False with the reason when it could not load it or quarantined it.
	ConditionLoaded = "Loaded"
)

// MaxHistory is how many module revisions a SchedulingPolicy's status keeps.
const MaxHistory = 10

// SchedulingPolicyStatus is written by the API server (history, Accepted)
// and by the scheduler (Loaded, observedGeneration).
type SchedulingPolicyStatus struct {
	// ObservedGeneration is the generation the scheduler last loaded.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// History lists the modules the policy pointed at, oldest first, the
	// current one last; at most MaxHistory.
	History []ModuleRevision `json:"history,omitempty"`
	// Conditions are Accepted and Loaded.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Shadow compares a shadow policy's placements with the active
	// scheduler's since the policy's module, configuration or shadowOf last
	// changed. The scheduler writes it every few seconds, not per pod.
	Shadow *ShadowStatus `json:"shadow,omitempty"`
}

// ShadowStatus counts a shadow policy's decisions. Decisions is
// Agreements + Disagreements + Failures; Dropped pods were not decided
// because the shadow queue was full.
type ShadowStatus struct {
	Decisions     int64 `json:"decisions"`
	Agreements    int64 `json:"agreements"`
	Disagreements int64 `json:"disagreements"`
	// Failures are calls that failed (trap, deadline, quarantine, module not
	// loaded); they never affect the pod.
	Failures int64 `json:"failures"`
	Dropped  int64 `json:"dropped,omitempty"`
	// LastDisagreement is the latest pod the two placed differently.
	LastDisagreement *ShadowDisagreement `json:"lastDisagreement,omitempty"`
}

// ShadowDisagreement is one pod the active scheduler and the shadow policy
// placed differently.
type ShadowDisagreement struct {
	// Pod is "namespace/name".
	Pod        string `json:"pod"`
	ActiveNode string `json:"activeNode"`
	// ShadowNode is "" when the shadow policy found no feasible node.
	ShadowNode string      `json:"shadowNode"`
	Time       metav1.Time `json:"time"`
}

// ModuleRevision is one module a policy pointed at, and since when.
type ModuleRevision struct {
	Module string      `json:"module"`
	Time   metav1.Time `json:"time"`
}

// SchedulingPolicyList is a list of SchedulingPolicies.
type SchedulingPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []SchedulingPolicy `json:"items"`
}
