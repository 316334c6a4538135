// Command noexports is a reactor without the ABI's exports.
package main

//go:wasmexport hello
func hello() int32 { return 1 }

func main() {}
