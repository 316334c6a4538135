package raftstore

import (
	"context"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Forwarder carries a follower's requests to the leader. The leader's side is
// the Store's Leader* methods; an implementation calls those on the member
// named leader (over gRPC between processes, directly in tests).
type Forwarder interface {
	// Propose asks the leader to replicate an encoded command and returns the
	// encoded result (see encodeResult).
	Propose(ctx context.Context, leader raft.ServerID, cmd []byte) ([]byte, error)
	// ReadIndex asks the leader for a commit index that covers every write
	// acknowledged before the call.
	ReadIndex(ctx context.Context, leader raft.ServerID) (uint64, error)
	// LeaseKeepAlive renews a lease on the leader and returns its TTL.
	LeaseKeepAlive(ctx context.Context, leader raft.ServerID, id int64) (int64, error)
	// LeaseTimeToLive asks the leader how long a lease has left.
	LeaseTimeToLive(ctx context.Context, leader raft.ServerID, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error)
}
