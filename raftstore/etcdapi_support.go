package raftstore

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// What package etcdapi needs beyond the request methods: the header this
// member stamps on responses and its request size limit.

// ResponseHeader returns the header this member puts on a response at
// revision rev: cluster ID, member ID and raft term filled in.
func (s *Store) ResponseHeader(rev int64) *pb.ResponseHeader { return s.header(rev) }

// MaxRequestBytes is the largest encoded request the store accepts (etcd's
// --max-request-bytes); a larger one fails with ErrRequestTooLarge.
func (s *Store) MaxRequestBytes() int { return s.cfg.MaxRequestBytes }
