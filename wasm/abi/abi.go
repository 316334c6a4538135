// Package abi is version 1 of the binary interface between Skiff and its WebAssembly policy
// modules: the export names, the call header, the fixed-layout records of the scheduler hot path,
// the verdict and reason codes, and the JSON types of the cold paths (configuration, module info,
// controller reconcile). It is pure Go with no dependency on a wasm runtime, so the same code
// encodes on the host (wasm/runtime), decodes in the guest (wasm/sdk built with GOOS=wasip1), and
// serves the native adapter that runs a policy in-process. ../ABI.md is the normative description;
// this package is its reference implementation.
//
// Everything lives in one byte slice, the arena: the guest allocates it once (skiff_arena) and the
// host writes requests into it in place. All offsets in the arena are relative to its first byte,
// all integers are little-endian, and no call allocates in the guest.
package abi

import "errors"

// Version is the ABI version this package implements; a module's skiff_abi_version must return it.
const Version = 1

// Magic starts every call header: "SKF1" read as a little-endian uint32.
const Magic uint32 = 0x31464b53

// Export names. A module must export ExportVersion, ExportArena and its linear memory ("memory");
// the hooks it implements are detected from the remaining names.
const (
	ExportVersion   = "skiff_abi_version" // () -> i32: returns Version
	ExportArena     = "skiff_arena"       // (min i32) -> i32: arena address, at least min bytes; 0 on failure
	ExportConfigure = "skiff_configure"   // () -> i32 status; optional; JSON call with the module's configuration
	ExportInfo      = "skiff_info"        // () -> i32 status; optional; JSON call answering Info
	ExportFilter    = "skiff_filter"      // () -> i32 status; scheduler hook; schedule call
	ExportScore     = "skiff_score"       // () -> i32 status; scheduler hook; schedule call
	ExportReconcile = "skiff_reconcile"   // () -> i32 status; controller hook; JSON call
	ExportMemory    = "memory"
)

// Status is what every hook returns.
type Status int32

// Statuses. Values at or above StatusModuleBase are module-defined failures.
const (
	StatusOK             Status = 0
	StatusBadRequest     Status = 1 // the guest could not parse the arena
	StatusOutputTooLarge Status = 2 // JSON call: the output needs OutLen bytes; the host may grow the arena and retry
	StatusNotImplemented Status = 3 // the module exports the hook but implements nothing behind it
	StatusFailed         Status = 4 // JSON call: the module failed; the output holds a message
	StatusModuleBase     Status = 100
)

// Call kinds, stored in the header.
const (
	KindSchedule uint16 = 1
	KindJSON     uint16 = 2
)

// Header layout (HeaderSize bytes at arena offset 0). Fields 16..63 depend on the kind.
const (
	HeaderSize = 64

	hMagic   = 0  // u32 Magic
	hVersion = 4  // u16 Version
	hKind    = 6  // u16 KindSchedule | KindJSON
	hSize    = 8  // u32 bytes of the arena the host wrote
	hFlags   = 12 // u32 reserved, zero

	// KindSchedule
	hPodOff    = 16 // u32 offset of the Pod record
	hNodeCount = 20 // u32 number of Node records
	hNodesOff  = 24 // u32 offset of the first Node record
	hStrCount  = 28 // u32 number of strings in the table
	hStrOff    = 32 // u32 offset of the string index (StrCount × {off u32, len u32})
	hVerdOff   = 36 // u32 offset of the verdict output (NodeCount × VerdictSize)
	hCandCount = 40 // u32 number of score candidates
	hCandOff   = 44 // u32 offset of the candidate list (u32 node indices)
	hScoreOff  = 48 // u32 offset of the score output (CandCount × ScoreSize)

	// KindJSON
	hInOff  = 16 // u32 offset of the input JSON
	hInLen  = 20 // u32 its length
	hOutOff = 24 // u32 offset of the output area
	hOutCap = 28 // u32 its capacity
	hOutLen = 32 // u32 written by the guest: bytes of output (or bytes needed, with StatusOutputTooLarge)
)

// Errors returned by the encoders and parsers.
var (
	ErrShortArena = errors.New("abi: arena too small")
	ErrBadHeader  = errors.New("abi: bad call header")
	ErrBadVerdict = errors.New("abi: bad verdict")
	ErrBadScore   = errors.New("abi: score out of range 0-100")
	ErrBadOutput  = errors.New("abi: bad output length")
)

// MaxScore is the highest score a node can get; scores are in [0, MaxScore].
const MaxScore = 100

func align8(n uint32) uint32 { return (n + 7) &^ 7 }
