package raftstore

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// What package etcdapi needs beyond the request methods: the header this
// member stamps on responses, its request size limit, and a digest of the
// key space taken at a known revision.

// ResponseHeader returns the header this member puts on a response at
// revision rev: cluster ID, member ID and raft term filled in.
func (s *Store) ResponseHeader(rev int64) *pb.ResponseHeader { return s.header(rev) }

// MaxRequestBytes is the largest encoded request the store accepts (etcd's
// --max-request-bytes); a larger one fails with ErrRequestTooLarge.
func (s *Store) MaxRequestBytes() int { return s.cfg.MaxRequestBytes }

// KVHash returns a digest of the local replica's key space (see
// mvcc.Frozen.Hash) together with the revision and compaction revision it was
// taken at, all read at one instant.
func (s *Store) KVHash() (hash uint64, rev, compactRev int64) {
	s.fsm.mu.RLock()
	frozen := s.fsm.kv.Freeze()
	compactRev = s.fsm.kv.CompactRev()
	s.fsm.mu.RUnlock()
	return frozen.Hash(), frozen.Rev(), compactRev
}
