package raftstore

import "github.com/hashicorp/raft"

// Stats is a point-in-time view of a member for metrics.
type Stats struct {
	Revision, CompactRevision int64
	SizeBytes, QuotaBytes     int64
	Keys                      int
	AppliedIndex, CommitIndex uint64
	Term                      uint64
	IsLeader, HasLeader       bool
	// Proposals counts commands this member appended as leader;
	// RaftEntries counts the raft entries they went into (group commit
	// makes it smaller).
	Proposals, RaftEntries uint64
}

// Stats reads the member's figures; it does not block on raft.
func (s *Store) Stats() Stats {
	st := Stats{
		QuotaBytes:   s.cfg.QuotaBytes,
		AppliedIndex: s.fsm.applied.Load(),
		CommitIndex:  s.raft.CommitIndex(),
		Term:         s.raft.CurrentTerm(),
		IsLeader:     s.IsLeader(),
		Proposals:    s.proposals.Load(),
		RaftEntries:  s.raftEntries.Load(),
	}
	_, leader := s.raft.LeaderWithID()
	st.HasLeader = leader != "" || s.raft.State() == raft.Leader
	s.fsm.read(func(kv *mvccStore) {
		st.Revision, st.CompactRevision, st.SizeBytes, st.Keys = kv.Rev(), kv.CompactRev(), kv.Size(), kv.KeyCount()
	})
	return st
}
