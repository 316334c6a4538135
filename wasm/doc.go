// Package wasm is reserved for Skiff's WebAssembly policy runtime (see ../shared/design.md); it has no code yet.
package wasm
