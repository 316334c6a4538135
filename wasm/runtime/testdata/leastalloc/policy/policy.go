// Package policy is a small example scheduler: it filters on cpu, memory and pod count, node
// name, node selector, taints, unschedulable and readiness, and scores by least allocation
// (the mean of the free cpu and memory fractions after placing the pod), breaking ties toward
// nodes running fewer replicas of the pod's owner. It compiles natively and for wasip1.
package policy

import "github.com/skiff-sh/skiff/wasm/abi"

// LeastAllocated is the policy; the zero value is ready to use.
type LeastAllocated struct{}

// Filter implements sdk.Scheduler.
func (LeastAllocated) Filter(pod abi.Pod, nodes abi.Nodes, out abi.Verdicts) {
	cpu, mem := pod.CPUMilli(), pod.MemoryBytes()
	name := pod.NodeName()
	sel := pod.NodeSelector()
	tols := pod.Tolerations()
	for i := 0; i < nodes.Len(); i++ {
		n := nodes.At(i)
		var why abi.Reasons
		hard := false
		if n.AllocCPUMilli()-n.ReqCPUMilli() < cpu {
			why |= abi.ReasonInsufficientCPU
		}
		if n.AllocMemory()-n.ReqMemory() < mem {
			why |= abi.ReasonInsufficientMemory
		}
		if n.Pods() >= n.AllocPods() {
			why |= abi.ReasonTooManyPods
		}
		if name != 0 && n.Name() != name {
			why |= abi.ReasonNodeName
			hard = true
		}
		labels := n.Labels()
		for j := 0; j < sel.Len(); j++ {
			want := sel.At(j)
			if v, ok := labels.Get(want.Key); !ok || v != want.Value {
				why |= abi.ReasonNodeSelector
				hard = true
				break
			}
		}
		taints := n.Taints()
		for j := 0; j < taints.Len(); j++ {
			t := taints.At(j)
			if t.Effect != abi.EffectPreferNoSchedule && !tols.ToleratesAll(t) {
				why |= abi.ReasonUntoleratedTaint
				hard = true
				break
			}
		}
		if n.Flags()&abi.NodeUnschedulable != 0 {
			why |= abi.ReasonUnschedulable
			hard = true
		}
		if n.Flags()&abi.NodeReady == 0 {
			why |= abi.ReasonNotReady
			hard = true
		}
		switch {
		case why == 0:
			out.Set(i, abi.Feasible, 0)
		case hard:
			out.Set(i, abi.Unresolvable, why)
		default:
			out.Set(i, abi.Unschedulable, why)
		}
	}
}

// Score implements sdk.Scheduler.
func (LeastAllocated) Score(pod abi.Pod, nodes abi.Nodes, out abi.Scores) {
	cpu, mem := pod.CPUMilli(), pod.MemoryBytes()
	for i := 0; i < nodes.Len(); i++ {
		n := nodes.At(i)
		s := (free(n.AllocCPUMilli(), n.ReqCPUMilli()+cpu) + free(n.AllocMemory(), n.ReqMemory()+mem)) / 2
		if m := int64(n.Matching()); m < s && m > 0 {
			s -= m
		}
		out.Set(i, int32(s))
	}
}

// free is the unrequested share of alloc, 0-100.
func free(alloc, req int64) int64 {
	if alloc <= 0 || req >= alloc {
		return 0
	}
	return (alloc - req) * abi.MaxScore / alloc
}
