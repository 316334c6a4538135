// Package playground is the scheduling playground's shared logic: it turns a
// scenario (a wasm/snapshot document: nodes, bound pods, pending pods) into
// the ABI v1 records a scheduling module is handed, and replays the pending
// pods through one module, one decision per pod, placing each before the
// next, exactly as wasm/snapshot.Replay does on the server.
//
// It depends on nothing but k8s.io/api, apimachinery, wasm/abi and the
// scheduler's own conversion of objects into records
// (control/scheduler/records), so it also compiles to GOOS=js GOARCH=wasm:
// ./wasm is the program the dashboard loads, and guest_js.go runs a module in
// the browser's own WebAssembly engine behind the same Policy interface
// wazero serves on the server.
package playground
