// Command module is the built-in ReplicaSet controller policy as a wasm module
// (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared).
package main

import (
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/replicaset"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

func init() {
	sdk.RegisterReconciler(replicaset.Policy{})
	sdk.SetInfo(abi.Info{Name: "replicaset"})
}

func main() {}
