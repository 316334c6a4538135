// Command module is the built-in Deployment controller policy as a wasm module
// (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared).
package main

import (
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/deployment"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

func init() {
	sdk.RegisterReconciler(deployment.Policy{})
	sdk.SetInfo(abi.Info{Name: "deployment"})
}

func main() {}
