// Package check judges chaos histories (tools/chaos/history) and returns a
// Verdict per checker:
//
//   - Linearizable: the register operations (read, write, compare-and-swap),
//     partitioned by key, are linearizable, checked with porcupine. Operations
//     with unknown outcomes are open-ended (they may take effect any time after
//     their call, or never); an illegal key fails the verdict and gets
//     porcupine's HTML visualisation in the report directory; a key porcupine
//     could not decide within the timeout makes the verdict Unknown.
//   - Watch: every watch session received events ordered by revision, without
//     duplicates and without gaps against every write known to have happened
//     (acknowledged writes and events any watcher saw), and a session resumed
//     from revision R starts at the first such write after R.
//   - LostWrites: every acknowledged write is in the final state, or was
//     superseded by a later write that was acknowledged or may have applied.
//
// The checkers assume, as the workloads in tools/chaos/workload guarantee,
// that every written value is unique within a run and that registers start
// absent (read as "").
package check
