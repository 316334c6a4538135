// Package ignorememory is a planted bug for tools/chaos: a scheduling
// policy whose filter ignores memory. It keeps the node filters that do
// not count resources (unschedulable, spec.nodeName, Ready) and the pod
// count and CPU fit, but lets a pod onto a node whatever memory it
// requests, so pods whose memory requests overflow a node are bound there
// anyway. The convergence checker (run.Converge, run.Overcommitted) must
// report the over-committed nodes; tools/chaos/planted shows it does.
//
// The module (./module) is built and pushed as the scheduler
// "ignore-memory" by the planted test; it is not meant for clusters.
package ignorememory

import (
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/scheduler"
)

// Name is the scheduler name pods choose the planted policy by.
const Name = "ignore-memory"

// Policy is the default scheduler's scoring with a filter that ignores
// memory; the zero value is ready to use.
type Policy struct {
	scheduler.Policy // Score
}

// Filter implements sdk.Scheduler: the default filters without memory
// (and without taints and affinity, which the planted test does not use).
func (Policy) Filter(pod abi.Pod, nodes abi.Nodes, out abi.Verdicts) {
	cpu, name := pod.CPUMilli(), pod.NodeName()
	for i := 0; i < nodes.Len(); i++ {
		n := nodes.At(i)
		var hard, soft abi.Reasons
		if n.Flags()&abi.NodeUnschedulable != 0 {
			hard |= abi.ReasonUnschedulable
		}
		if name != 0 && n.Name() != name {
			hard |= abi.ReasonNodeName
		}
		if n.Flags()&abi.NodeReady == 0 {
			hard |= abi.ReasonNotReady
		}
		if n.Pods()+1 > n.AllocPods() {
			soft |= abi.ReasonTooManyPods
		}
		if cpu > 0 && cpu > n.AllocCPUMilli()-n.ReqCPUMilli() {
			soft |= abi.ReasonInsufficientCPU
		}
		// The planted bug: no check of pod.MemoryBytes() against
		// n.AllocMemory()-n.ReqMemory().
		switch {
		case hard != 0:
			out.Set(i, abi.Unresolvable, hard|soft)
		case soft != 0:
			out.Set(i, abi.Unschedulable, soft)
		default:
			out.Set(i, abi.Feasible, 0)
		}
	}
}
