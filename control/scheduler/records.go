package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// Records turns Kubernetes objects into the ABI records a scheduling policy
// is handed, exactly as this scheduler builds them, so that a replay of a
// recorded cluster (wasm/snapshot) decides on the same input. Strings and
// owners are interned per Records.
type Records struct{ strs, owners *interner }

// NewRecords returns empty string and owner tables.
func NewRecords() *Records { return &Records{strs: newInterner(), owners: newInterner()} }

// Node is the static part of a node's record (no requests placed on it).
func (r *Records) Node(node *corev1.Node) abi.NodeInput { return nodeRecord(node, r.strs) }

// Pod is a pod's record.
func (r *Records) Pod(pod *corev1.Pod) abi.PodInput {
	return newPodInput(pod, r.strs, r.owners).PodInput
}

// Owner is the id of the object's controller (0: none).
func (r *Records) Owner(m *metav1.ObjectMeta) uint32 { return r.owners.id(controllerUID(m)) }

// Strings is the string table the records' ids index (abi.Input.Strings).
func (r *Records) Strings() []string { return r.strs.table() }

// PodRequests is what the pod asks of a node, as kube-scheduler computes it.
func PodRequests(spec *corev1.PodSpec) (cpu, mem int64) { return podRequests(spec) }
