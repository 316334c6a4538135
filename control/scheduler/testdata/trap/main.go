// Command trap is a test scheduler that traps (panics) on pods requesting exactly 777m of CPU
// and otherwise finds every node feasible with equal scores.
package main

import (
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

// TrapCPUMilli is the request that makes the module trap.
const TrapCPUMilli = 777

type policy struct{}

func (policy) Filter(pod abi.Pod, nodes abi.Nodes, out abi.Verdicts) {
	if pod.CPUMilli() == TrapCPUMilli {
		panic("trap: the pod asked for 777m")
	}
	for i := 0; i < out.Len(); i++ {
		out.Set(i, abi.Feasible, 0)
	}
}

func (policy) Score(pod abi.Pod, nodes abi.Nodes, out abi.Scores) {
	for i := 0; i < out.Len(); i++ {
		out.Set(i, 0)
	}
}

func init() { sdk.RegisterScheduler(policy{}) }

func main() {}
