// Command module is the default scheduler policy as a wasm module: built with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, it is the built-in module wasm/builtin embeds.
package main

import (
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/scheduler"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

func init() {
	sdk.RegisterScheduler(scheduler.Policy{})
	sdk.SetInfo(abi.Info{Name: "default-scheduler"})
}

func main() {}
