// Package records turns Kubernetes objects into the ABI records a scheduling policy is handed
// (wasm/abi): nodes and pods with their resources as integers and their labels, taints,
// selectors and images interned. The scheduler (control/scheduler) builds its input with it,
// and so do the replays of a recorded cluster (wasm/snapshot) and the dashboard's playground,
// which runs in the browser (this package compiles to js/wasm), so every one of them decides on
// the same input.
package records

import (
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// Records turns Kubernetes objects into the ABI records a scheduling policy
// is handed, exactly as this scheduler builds them, so that a replay of a
// recorded cluster (wasm/snapshot) decides on the same input. Strings and
// owners are interned per Records.
type Records struct{ strs, owners *Interner }

// NewRecords returns empty string and owner tables.
func NewRecords() *Records { return &Records{strs: NewInterner(), owners: NewInterner()} }

// Node is the static part of a node's record (no requests placed on it).
func (r *Records) Node(node *corev1.Node) abi.NodeInput { return Node(node, r.strs) }

// Pod is a pod's record.
func (r *Records) Pod(pod *corev1.Pod) abi.PodInput {
	p, _ := Pod(pod, r.strs, r.owners)
	return p
}

// Owner is the id of the object's controller (0: none).
func (r *Records) Owner(m *metav1.ObjectMeta) uint32 { return r.owners.ID(ControllerUID(m)) }

// Strings is the string table the records' ids index (abi.Input.Strings).
func (r *Records) Strings() []string { return r.strs.Table() }

// Interner maps strings to the ABI's u32 ids; id 0 is "". Ids are never reused, and the prefix of
// strs a reader has seen never changes, so readers may keep a slice of it without the lock.
type Interner struct {
	mu   sync.RWMutex
	ids  map[string]uint32
	strs []string
}

// NewInterner returns a table holding only "" (id 0).
func NewInterner() *Interner {
	return &Interner{ids: map[string]uint32{"": 0}, strs: []string{""}}
}

// ID interns s.
func (in *Interner) ID(s string) uint32 {
	if s == "" {
		return 0
	}
	in.mu.RLock()
	id, ok := in.ids[s]
	in.mu.RUnlock()
	if ok {
		return id
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if id, ok := in.ids[s]; ok {
		return id
	}
	id = uint32(len(in.strs))
	in.ids[s] = id
	in.strs = append(in.strs, s)
	return id
}

// Table is the string table as it is now.
func (in *Interner) Table() []string {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.strs
}

// Text is the string of id.
func (in *Interner) Text(id uint32) string {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if int(id) < len(in.strs) {
		return in.strs[id]
	}
	return ""
}

// PodRequests is what a pod asks for, as kube-scheduler computes it: the sum of its containers'
// requests, at least each init container's, plus the pod overhead.
func PodRequests(spec *corev1.PodSpec) (cpu, mem int64) {
	for i := range spec.Containers {
		r := spec.Containers[i].Resources.Requests
		cpu += r.Cpu().MilliValue()
		mem += r.Memory().Value()
	}
	for i := range spec.InitContainers {
		r := spec.InitContainers[i].Resources.Requests
		cpu = max(cpu, r.Cpu().MilliValue())
		mem = max(mem, r.Memory().Value())
	}
	if spec.Overhead != nil {
		cpu += spec.Overhead.Cpu().MilliValue()
		mem += spec.Overhead.Memory().Value()
	}
	return cpu, mem
}

// ControllerUID is the UID of the pod's controlling owner, "" if none.
func ControllerUID(m *metav1.ObjectMeta) string {
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		return string(ref.UID)
	}
	return ""
}

// Effect is a taint effect in the ABI.
func Effect(e corev1.TaintEffect) abi.TaintEffect {
	switch e {
	case corev1.TaintEffectNoSchedule:
		return abi.EffectNoSchedule
	case corev1.TaintEffectPreferNoSchedule:
		return abi.EffectPreferNoSchedule
	case corev1.TaintEffectNoExecute:
		return abi.EffectNoExecute
	}
	return 0
}

// FieldKey is a label key no node has: requirements the ABI cannot express become Exists on it.
const FieldKey = "skiff.dev/unsupported-match-fields"

// SelectorOp is a node selector operator in the ABI (0 matches nothing).
func SelectorOp(op corev1.NodeSelectorOperator) abi.SelectorOp {
	switch op {
	case corev1.NodeSelectorOpIn:
		return abi.OpIn
	case corev1.NodeSelectorOpNotIn:
		return abi.OpNotIn
	case corev1.NodeSelectorOpExists:
		return abi.OpExists
	case corev1.NodeSelectorOpDoesNotExist:
		return abi.OpDoesNotExist
	case corev1.NodeSelectorOpGt:
		return abi.OpGt
	case corev1.NodeSelectorOpLt:
		return abi.OpLt
	}
	return 0 // matches nothing
}

// NormalizeImage adds the tag ImageLocality assumes when there is none.
func NormalizeImage(img string) string {
	if strings.Contains(img, "@") {
		return img
	}
	if i := strings.LastIndex(img, ":"); i < 0 || strings.Contains(img[i:], "/") {
		return img + ":latest"
	}
	return img
}

// Node is the static part of a node's record.
func Node(node *corev1.Node, strs *Interner) abi.NodeInput {
	alloc := node.Status.Allocatable
	if len(alloc) == 0 {
		alloc = node.Status.Capacity
	}
	r := abi.NodeInput{Name: strs.ID(node.Name)}
	r.AllocCPUMilli = alloc.Cpu().MilliValue()
	r.AllocMemory = alloc.Memory().Value()
	r.AllocPods = uint32(max(alloc.Pods().Value(), 0))
	if node.Spec.Unschedulable {
		r.Flags |= abi.NodeUnschedulable
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			r.Flags |= abi.NodeReady
		}
	}
	if len(node.Labels) > 0 {
		keys := make([]string, 0, len(node.Labels))
		for k := range node.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		r.Labels = make([]abi.Label, len(keys))
		for i, k := range keys {
			r.Labels[i] = abi.Label{Key: strs.ID(k), Value: strs.ID(node.Labels[k])}
		}
	}
	for _, t := range node.Spec.Taints {
		r.Taints = append(r.Taints, abi.Taint{Key: strs.ID(t.Key), Value: strs.ID(t.Value), Effect: Effect(t.Effect)})
	}
	for _, im := range node.Status.Images {
		for _, name := range im.Names {
			r.Images = append(r.Images, abi.Image{ID: strs.ID(NormalizeImage(name)), SizeMiB: uint32(min(im.SizeBytes>>20, 1<<31))})
		}
	}
	return r
}

// Pod describes a pod for the policy, interning its strings and its owner; needStrings says
// the policy must see the string table (Gt/Lt requirements, tolerations of taints by key).
func Pod(pod *corev1.Pod, strs, owners *Interner) (p abi.PodInput, needStrings bool) {
	p.CPUMilli, p.MemoryBytes = PodRequests(&pod.Spec)
	p.Owner = owners.ID(ControllerUID(&pod.ObjectMeta))
	p.NodeName = strs.ID(pod.Spec.NodeName)
	if pod.Spec.Priority != nil {
		p.Priority = *pod.Spec.Priority
	}
	if len(pod.Spec.NodeSelector) > 0 {
		keys := make([]string, 0, len(pod.Spec.NodeSelector))
		for k := range pod.Spec.NodeSelector {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p.NodeSelector = append(p.NodeSelector, abi.Label{Key: strs.ID(k), Value: strs.ID(pod.Spec.NodeSelector[k])})
		}
	}
	for _, t := range pod.Spec.Tolerations {
		op := abi.TolerateEqual
		if t.Operator == corev1.TolerationOpExists {
			op = abi.TolerateExists
		}
		p.Tolerations = append(p.Tolerations, abi.Toleration{Key: strs.ID(t.Key), Value: strs.ID(t.Value), Op: op, Effect: Effect(t.Effect)})
		if t.Key != "" {
			needStrings = true
		}
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			var t abi.Term
			for _, r := range term.MatchExpressions {
				e := abi.Expr{Key: strs.ID(r.Key), Op: SelectorOp(r.Operator)}
				for _, v := range r.Values {
					e.Values = append(e.Values, strs.ID(v))
				}
				if e.Op == abi.OpGt || e.Op == abi.OpLt {
					needStrings = true
				}
				t.Exprs = append(t.Exprs, e)
			}
			if len(term.MatchFields) > 0 {
				// Field requirements (metadata.name) are not in ABI v1: a term with them
				// matches no node rather than any.
				t.Exprs = append(t.Exprs, abi.Expr{Key: strs.ID(FieldKey), Op: abi.OpExists})
			}
			p.Affinity = append(p.Affinity, t)
		}
	}
	for i := range pod.Spec.Containers {
		if img := pod.Spec.Containers[i].Image; img != "" {
			p.Images = append(p.Images, strs.ID(NormalizeImage(img)))
		}
	}
	return p, needStrings
}
