//go:build wasip1

package sdk

import (
	"encoding/json"
	"unsafe"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// arena is the one buffer the host writes calls into. It is allocated by skiff_arena, at
// instance start and whenever the host needs more room, never by a hook.
var arena []byte

//go:wasmexport skiff_abi_version
func exportABIVersion() int32 { return abi.Version }

//go:wasmexport skiff_arena
func exportArena(min uint32) uint32 {
	if min == 0 {
		min = 1
	}
	if uint32(len(arena)) < min {
		arena = nil // let the old one go before asking for the new one
		arena = make([]byte, min)
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(arena))))
}

//go:wasmexport skiff_filter
func exportFilter() int32 {
	if scheduler == nil {
		return int32(abi.StatusNotImplemented)
	}
	req, err := abi.ParseSchedule(arena)
	if err != nil {
		return int32(abi.StatusBadRequest)
	}
	scheduler.Filter(req.Pod(), req.Nodes(), req.Verdicts())
	return int32(abi.StatusOK)
}

//go:wasmexport skiff_score
func exportScore() int32 {
	if scheduler == nil {
		return int32(abi.StatusNotImplemented)
	}
	req, err := abi.ParseSchedule(arena)
	if err != nil {
		return int32(abi.StatusBadRequest)
	}
	scheduler.Score(req.Pod(), req.Candidates(), req.Scores())
	return int32(abi.StatusOK)
}

//go:wasmexport skiff_configure
func exportConfigure() int32 {
	call, err := abi.ParseJSON(arena)
	if err != nil {
		return int32(abi.StatusBadRequest)
	}
	call.SetOutLen(0)
	if err := configure(call.In()); err != nil {
		writeMessage(call, err)
		return int32(abi.StatusFailed)
	}
	return int32(abi.StatusOK)
}

//go:wasmexport skiff_info
func exportInfo() int32 {
	call, err := abi.ParseJSON(arena)
	if err != nil {
		return int32(abi.StatusBadRequest)
	}
	out, err := json.Marshal(info)
	if err != nil {
		writeMessage(call, err)
		return int32(abi.StatusFailed)
	}
	return int32(call.WriteOut(out))
}

//go:wasmexport skiff_reconcile
func exportReconcile() int32 {
	if reconciler == nil {
		return int32(abi.StatusNotImplemented)
	}
	call, err := abi.ParseJSON(arena)
	if err != nil {
		return int32(abi.StatusBadRequest)
	}
	out, status := reconcileJSON(reconciler, call.In())
	if s := call.WriteOut(out); s != abi.StatusOK {
		return int32(s)
	}
	return int32(status)
}

// writeMessage writes err's text as the output, truncated to the output area.
func writeMessage(call abi.JSONCall, err error) {
	msg := err.Error()
	if n := len(call.Out()); len(msg) > n {
		msg = msg[:n]
	}
	call.WriteOut([]byte(msg))
}
