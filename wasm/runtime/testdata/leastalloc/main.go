// Command leastalloc is the example scheduler policy as a wasm module.
package main

import (
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/runtime/testdata/leastalloc/policy"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

func init() {
	sdk.RegisterScheduler(policy.LeastAllocated{})
	sdk.SetInfo(abi.Info{Name: "leastalloc"})
}

func main() {}
