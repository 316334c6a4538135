// Command loop is a scheduler whose filter never returns: its dry run runs
// past the deadline.
package main

import (
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

type policy struct{}

var sink int

func (policy) Filter(pod abi.Pod, nodes abi.Nodes, out abi.Verdicts) {
	for i := 0; ; i++ {
		sink += i
	}
}

func (policy) Score(pod abi.Pod, nodes abi.Nodes, out abi.Scores) {}

func init() { sdk.RegisterScheduler(policy{}) }

func main() {}
