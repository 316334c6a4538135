// Command nohooks is built with the SDK but registers no policy: every hook
// answers "not implemented".
package main

import _ "github.com/skiff-sh/skiff/wasm/sdk"

func main() {}
