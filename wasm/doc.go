// Package wasm holds Skiff's WebAssembly policy modules: the scheduler's and
// the controllers' decisions, and users' own schedulers, run sandboxed by
// wazero.
//
//   - abi: ABI v1, the fixed-layout records host and guest share (ABI.md);
//   - sdk: what a policy author imports: plain Go, built with
//     GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, and runnable natively;
//   - runtime: the host — compilation cache, instance pools, memory caps,
//     deadlines, quarantine of failing modules.
//
// Design choices are in RATIONALE.md.
package wasm
