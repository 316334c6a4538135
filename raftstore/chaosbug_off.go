//go:build !chaosbug

package raftstore

// plantedStaleReads is the one hook tools/chaos plants a bug through (see
// chaosbug_on.go); in every real build it is false and the check compiles
// away.
const plantedStaleReads = false
