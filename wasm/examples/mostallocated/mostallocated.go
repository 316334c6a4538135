// Package mostallocated is an example custom scheduler: bin-packing. It
// keeps the default scheduler's filters (wasm/policies/scheduler) and
// scores a node by how full it would be with the pod, kube-scheduler's
// NodeResourcesFit MostAllocated strategy over cpu and memory, so pods pack
// onto the fullest node that still fits them and empty nodes stay empty.
//
// Build and run it as the scheduler "mostallocated":
//
//	skiff policy build ./wasm/examples/mostallocated/module -o mostallocated.wasm
//	skiff policy push mostallocated mostallocated.wasm
//
// and give pods spec.schedulerName: mostallocated.
package mostallocated

import (
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/scheduler"
)

// What a pod that requests nothing is counted as, as the default policy does.
const (
	defaultMilliCPU = 100
	defaultMemory   = 200 << 20
)

// Policy packs pods; the zero value is ready to use.
type Policy struct {
	scheduler.Policy // Filter: the default scheduler's filters
}

// Score implements sdk.Scheduler: the mean of the cpu and memory fractions
// the node would have in use with the pod, 0-100.
func (Policy) Score(pod abi.Pod, nodes abi.Nodes, out abi.Scores) {
	cpu, mem := pod.CPUMilli(), pod.MemoryBytes()
	if cpu == 0 {
		cpu = defaultMilliCPU
	}
	if mem == 0 {
		mem = defaultMemory
	}
	for i := 0; i < nodes.Len(); i++ {
		n := nodes.At(i)
		s := (used(n.ReqCPUMilli()+cpu, n.AllocCPUMilli()) + used(n.ReqMemory()+mem, n.AllocMemory())) * abi.MaxScore / 2000
		out.Set(i, int32(min(max(s, 0), abi.MaxScore)))
	}
}

// used is req/alloc in thousandths, capped at 1000.
func used(req, alloc int64) int64 {
	if alloc <= 0 || req >= alloc {
		return 1000
	}
	if req <= 0 {
		return 0
	}
	return req * 1000 / alloc
}
