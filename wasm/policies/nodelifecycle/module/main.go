// Command module is the built-in node lifecycle controller policy as a wasm module
// (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared).
package main

import (
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/nodelifecycle"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

func init() {
	sdk.RegisterReconciler(nodelifecycle.Policy{})
	sdk.SetInfo(abi.Info{Name: "nodelifecycle"})
}

func main() {}
