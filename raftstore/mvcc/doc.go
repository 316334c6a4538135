// Package mvcc is the versioned key space at the heart of raftstore: etcd's
// multi-version concurrency control model, kept in memory and driven only by
// the raft state machine.
//
// Words are etcd's. The store has one global revision that grows by one per
// mutating request (a transaction is one revision; its writes get increasing
// sub-revisions). Each key keeps its create revision, mod revision and version
// (number of writes since creation); a delete writes a tombstone. Every version
// is kept until Compact, so reads at a past revision and watches from a past
// revision work until then.
//
// A Store is not safe for concurrent writers: the raft FSM is its only writer
// and holds its write lock; readers may run concurrently with each other under
// its read lock (raftstore's fsm.read). Every method is deterministic: the same requests applied
// in the same order give the same state on every replica, byte for byte, which
// Hash checks.
package mvcc
