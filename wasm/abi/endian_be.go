//go:build armbe || arm64be || m68k || mips || mips64 || mips64p32 || ppc || ppc64 || s390 || s390x || shbe || sparc || sparc64

package abi

// The views load little-endian fields with native loads; on a big-endian machine they would read
// garbage, so building there fails here.
var _ = "abi: big-endian machines are not supported" + 1
