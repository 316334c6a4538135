package playground

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// Records turns Kubernetes objects into ABI records exactly as
// control/scheduler.Records does (TestRecordsMatchScheduler holds them
// equal). Strings and owners are interned per Records.
type Records struct{ strs, owners *interner }

// NewRecords returns empty string and owner tables.
func NewRecords() *Records { return &Records{strs: newInterner(), owners: newInterner()} }

// Node is the static part of a node's record (no requests placed on it).
func (r *Records) Node(node *corev1.Node) abi.NodeInput { return nodeRecord(node, r.strs) }

// Pod is a pod's record.
func (r *Records) Pod(pod *corev1.Pod) abi.PodInput { return podRecord(pod, r.strs, r.owners) }

// Owner is the id of the object's controller (0: none).
func (r *Records) Owner(m *metav1.ObjectMeta) uint32 { return r.owners.id(controllerUID(m)) }

// Strings is the string table the records' ids index (abi.Input.Strings).
func (r *Records) Strings() []string { return r.strs.strs }

// PodRequests is what the pod asks of a node, as kube-scheduler computes it:
// the sum of its containers' requests, at least each init container's, plus
// the pod overhead.
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

// interner maps strings to the ABI's u32 ids; id 0 is "".
type interner struct {
	ids  map[string]uint32
	strs []string
}

func newInterner() *interner { return &interner{ids: map[string]uint32{"": 0}, strs: []string{""}} }

func (in *interner) id(s string) uint32 {
	if s == "" {
		return 0
	}
	if id, ok := in.ids[s]; ok {
		return id
	}
	id := uint32(len(in.strs))
	in.ids[s] = id
	in.strs = append(in.strs, s)
	return id
}

func controllerUID(m *metav1.ObjectMeta) string {
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		return string(ref.UID)
	}
	return ""
}

func effect(e corev1.TaintEffect) abi.TaintEffect {
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

func podRecord(pod *corev1.Pod, strs, owners *interner) abi.PodInput {
	var p abi.PodInput
	p.CPUMilli, p.MemoryBytes = PodRequests(&pod.Spec)
	p.Owner = owners.id(controllerUID(&pod.ObjectMeta))
	p.NodeName = strs.id(pod.Spec.NodeName)
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
			p.NodeSelector = append(p.NodeSelector, abi.Label{Key: strs.id(k), Value: strs.id(pod.Spec.NodeSelector[k])})
		}
	}
	for _, t := range pod.Spec.Tolerations {
		op := abi.TolerateEqual
		if t.Operator == corev1.TolerationOpExists {
			op = abi.TolerateExists
		}
		p.Tolerations = append(p.Tolerations, abi.Toleration{Key: strs.id(t.Key), Value: strs.id(t.Value), Op: op, Effect: effect(t.Effect)})
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			var t abi.Term
			for _, r := range term.MatchExpressions {
				e := abi.Expr{Key: strs.id(r.Key), Op: selectorOp(r.Operator)}
				for _, v := range r.Values {
					e.Values = append(e.Values, strs.id(v))
				}
				t.Exprs = append(t.Exprs, e)
			}
			if len(term.MatchFields) > 0 {
				// Not in ABI v1: a term with field requirements matches no node.
				t.Exprs = append(t.Exprs, abi.Expr{Key: strs.id(fieldKey), Op: abi.OpExists})
			}
			p.Affinity = append(p.Affinity, t)
		}
	}
	for i := range pod.Spec.Containers {
		if img := pod.Spec.Containers[i].Image; img != "" {
			p.Images = append(p.Images, strs.id(normalizeImage(img)))
		}
	}
	return p
}

// fieldKey is a label key no node has (control/scheduler's).
const fieldKey = "skiff.dev/unsupported-match-fields"

func selectorOp(op corev1.NodeSelectorOperator) abi.SelectorOp {
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
	return 0
}

func normalizeImage(img string) string {
	if strings.Contains(img, "@") {
		return img
	}
	if i := strings.LastIndex(img, ":"); i < 0 || strings.Contains(img[i:], "/") {
		return img + ":latest"
	}
	return img
}

func nodeRecord(node *corev1.Node, strs *interner) abi.NodeInput {
	alloc := node.Status.Allocatable
	if len(alloc) == 0 {
		alloc = node.Status.Capacity
	}
	r := abi.NodeInput{Name: strs.id(node.Name)}
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
			r.Labels[i] = abi.Label{Key: strs.id(k), Value: strs.id(node.Labels[k])}
		}
	}
	for _, t := range node.Spec.Taints {
		r.Taints = append(r.Taints, abi.Taint{Key: strs.id(t.Key), Value: strs.id(t.Value), Effect: effect(t.Effect)})
	}
	for _, im := range node.Status.Images {
		for _, name := range im.Names {
			r.Images = append(r.Images, abi.Image{ID: strs.id(normalizeImage(name)), SizeMiB: uint32(min(im.SizeBytes>>20, 1<<31))})
		}
	}
	return r
}
