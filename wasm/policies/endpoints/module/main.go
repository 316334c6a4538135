// Command module is the built-in endpoints and endpointslice controller policy as a wasm
// module (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared).
package main

import (
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/endpoints"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

func init() {
	sdk.RegisterReconciler(endpoints.Policy{})
	sdk.SetInfo(abi.Info{Name: "endpoints"})
}

func main() {}
