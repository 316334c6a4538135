// Command module is the mostallocated example scheduler as a wasm module
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared).
package main

import (
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/examples/mostallocated"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

func init() {
	sdk.RegisterScheduler(mostallocated.Policy{})
	sdk.SetInfo(abi.Info{Name: "mostallocated"})
}

func main() {}
