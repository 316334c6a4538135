// Package playground is the scheduling playground's shared logic: it turns a
// scenario (a wasm/snapshot document: nodes, bound pods, pending pods) into
// the ABI v1 records a scheduling module is handed, and replays the pending
// pods through one module, one decision per pod, placing each before the
// next, exactly as wasm/snapshot.Replay does on the server.
//
// It depends on nothing but k8s.io/api, apimachinery and wasm/abi, so it
// also compiles to GOOS=js GOARCH=wasm: ./wasm is the program the dashboard
// loads, and guest_js.go runs a module in the browser's own WebAssembly
// engine behind the same Policy interface wazero serves on the server.
// records.go is a copy of control/scheduler's conversion (that package
// pulls in raftstore and wazero, which do not build for js); a test holds
// the two byte for byte equal.
package playground
