// Package planted holds the tests that show the chaos checkers can fail:
// each plants a known bug and requires the matching checker to report a
// violation.
//
//   - Stale follower reads (linearizability) need a store built with the
//     chaosbug tag (raftstore/chaosbug_on.go):
//     go test -tags chaosbug ./tools/chaos/planted/
//   - A scheduler ignoring memory (convergence: over-committed nodes) needs
//     no tag: ./ignorememory is the policy, built as a wasm module and
//     pushed through the API. The scheduler host re-checks resources when
//     it commits a decision, so the module alone cannot over-commit (the
//     test shows the host holds it); the planted binder that ignores
//     memory and binds through pods/binding does, and the checker must
//     report it.
package planted
