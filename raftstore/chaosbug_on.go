//go:build chaosbug

package raftstore

// plantedStaleReads plants a known bug, only in builds tagged chaosbug, so
// tools/chaos can show that its linearizability checker catches it: a
// follower serves linearizable reads from its own state without asking the
// leader for a read index (without confirming leadership).
const plantedStaleReads = true
