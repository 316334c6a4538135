// Command badabi claims an ABI version the host does not implement.
package main

//go:wasmexport skiff_abi_version
func version() int32 { return 99 }

//go:wasmexport skiff_arena
func arena(uint32) uint32 { return 0 }

//go:wasmexport skiff_filter
func filter() int32 { return 0 }

func main() {}
