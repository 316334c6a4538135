// Package history records what chaos workloads did, as histories that the
// checkers in tools/chaos/check judge.
//
// A history is a sequence of entries. Every operation a client issues is an
// Invoke entry followed by exactly one completion: OK (it happened, with its
// output), Fail (it certainly did not take effect) or Unknown (it may or may
// not have: a timeout, a lost connection). A watch is a long-running
// operation: its Invoke names the prefix and start revision, each event the
// watcher receives is an Event entry, a progress notification is a Progress
// entry, and a completion ends the session. Final entries hold the value of
// each key read after the run, for the lost-write checker.
//
// Times are monotonic durations since the run started. A Recorder is safe for
// concurrent clients and can stream the history to a JSON-lines file (one
// Entry per line) that Decode and Load read back, so a run's checks can be
// repeated from its report directory.
package history
