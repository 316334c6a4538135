// Command module is the planted ignore-memory scheduler as a wasm module
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared).
package main

import (
	"github.com/skiff-sh/skiff/tools/chaos/planted/ignorememory"
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

func init() {
	sdk.RegisterScheduler(ignorememory.Policy{})
	sdk.SetInfo(abi.Info{Name: ignorememory.Name})
}

func main() {}
