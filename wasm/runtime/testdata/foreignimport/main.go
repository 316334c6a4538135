// Command foreignimport asks the host for a function outside WASI.
package main

//go:wasmimport env host_secret
func hostSecret() int32

//go:wasmexport skiff_abi_version
func version() int32 { return 1 }

//go:wasmexport skiff_arena
func arena(uint32) uint32 { return 0 }

//go:wasmexport skiff_filter
func filter() int32 { return hostSecret() }

func main() {}
