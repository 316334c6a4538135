package snapshot

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// This file mirrors control/scheduler/convert.go (unexported there): a replay must hand a policy
// the records the scheduler host would. Keep the two in step.

// interner maps strings to the ABI's u32 ids; id 0 is "".
type interner struct {
	ids  map[string]uint32
	strs []string
}

func newInterner() *interner { return &interner{ids: map[string]uint32{"": 0}, strs: []string{""}} }

func (in *interner) id(s string) uint32 {
	if id, ok := in.ids[s]; ok {
		return id
	}
	id := uint32(len(in.strs))
	in.ids[s] = id
	in.strs = append(in.strs, s)
	return id
}

// podRequests is the sum of the containers' requests, at least each init container's, plus the
// pod overhead, as kube-scheduler computes it.
func podRequests(spec *corev1.PodSpec) (cpu, mem int64) {
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

// controllerUID is the UID of the pod's controlling owner, "" if none.
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

// podInput is the pod's record, its strings interned in strs and its owner in owners.
func podInput(pod *corev1.Pod, strs, owners *interner) abi.PodInput {
	var p abi.PodInput
	p.CPUMilli, p.MemoryBytes = podRequests(&pod.Spec)
	p.Owner = owners.id(controllerUID(&pod.ObjectMeta))
	p.NodeName = strs.id(pod.Spec.NodeName)
	if pod.Spec.Priority != nil {
		p.Priority = *pod.Spec.Priority
	}
	keys := make([]string, 0, len(pod.Spec.NodeSelector))
	for k := range pod.Spec.NodeSelector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.NodeSelector = append(p.NodeSelector, abi.Label{Key: strs.id(k), Value: strs.id(pod.Spec.NodeSelector[k])})
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
				// Field requirements are not in ABI v1: such a term matches no node.
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

// fieldKey is a label key no node has, as the scheduler host uses it.
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

// normalizeImage adds the tag ImageLocality assumes when there is none.
func normalizeImage(img string) string {
	if strings.Contains(img, "@") {
		return img
	}
	if i := strings.LastIndex(img, ":"); i < 0 || strings.Contains(img[i:], "/") {
		return img + ":latest"
	}
	return img
}

// nodeRecord is the static part of a node's record.
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
	keys := make([]string, 0, len(node.Labels))
	for k := range node.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.Labels = append(r.Labels, abi.Label{Key: strs.id(k), Value: strs.id(node.Labels[k])})
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
