// Package planted holds the tests that show the chaos checkers can fail:
// each plants a known bug and requires the matching checker to report a
// violation. Stale follower reads need a store built with the chaosbug tag
// (raftstore/chaosbug_on.go):
//
//	go test -tags chaosbug ./tools/chaos/planted/
//
// Without the tag this package has no tests.
package planted
