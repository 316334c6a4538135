package etcdapi

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiff-sh/skiff/raftstore"
)

// maintenanceServer serves Status, HashKV, an empty alarm list and
// MoveLeader; defragmentation, snapshots, downgrades and the whole-backend
// Hash are Unimplemented.
type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	store *raftstore.Store
}

// Status reports this member's raft position as etcd does: raftIndex is the
// commit index, dbSize the key space's size in bytes.
func (s *maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	st, err := s.store.Status(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp := &pb.StatusResponse{
		Header:           s.store.ResponseHeader(st.Revision),
		Version:          Version,
		DbSize:           st.SizeBytes,
		DbSizeInUse:      st.SizeBytes,
		DbSizeQuota:      st.QuotaBytes,
		Leader:           st.LeaderID,
		RaftIndex:        st.CommitIndex,
		RaftTerm:         st.Term,
		RaftAppliedIndex: st.AppliedIndex,
		DowngradeInfo:    &pb.DowngradeInfo{},
	}
	for _, sv := range st.Servers {
		if sv.ID == st.ID {
			resp.IsLearner = !sv.Voter
		}
	}
	if st.Leader == "" {
		resp.Errors = append(resp.Errors, rpctypes.ErrorDesc(rpctypes.ErrGRPCNoLeader))
	}
	return resp, nil
}

// HashKV hashes the local replica's key space at its current revision. The
// digest is Skiff's own (it covers history and leases too), so it is only
// comparable between Skiff members at the same revision. A past revision
// cannot be hashed.
func (s *maintenanceServer) HashKV(_ context.Context, req *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	d := s.store.Digest()
	hash, rev, compactRev := d.Hash, d.Revision, d.CompactRevision
	switch {
	case req.Revision > rev:
		return nil, rpctypes.ErrGRPCFutureRev
	case req.Revision > 0 && req.Revision <= compactRev:
		return nil, rpctypes.ErrGRPCCompacted
	case req.Revision > 0 && req.Revision != rev:
		return nil, status.Errorf(codes.Unimplemented, "etcdserver: hash at past revision %d: only the current revision %d can be hashed", req.Revision, rev)
	}
	return &pb.HashKVResponse{
		Header:          s.store.ResponseHeader(rev),
		Hash:            uint32(hash) ^ uint32(hash>>32),
		CompactRevision: compactRev,
		HashRevision:    rev,
	}, nil
}

// Alarm lists no alarms: the store has none to raise (a full quota fails
// writes with ErrGRPCNoSpace directly).
func (s *maintenanceServer) Alarm(_ context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if req.Action != pb.AlarmRequest_GET {
		return nil, status.Errorf(codes.Unimplemented, "etcdserver: alarm %s is not supported", req.Action)
	}
	return &pb.AlarmResponse{Header: s.store.ResponseHeader(s.store.Rev())}, nil
}

// MoveLeader hands leadership to the member with the target ID. As in etcd,
// only the leader accepts it.
func (s *maintenanceServer) MoveLeader(ctx context.Context, req *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	if !s.store.IsLeader() {
		return nil, rpctypes.ErrGRPCNotLeader
	}
	members, err := s.store.MemberList(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	name := ""
	for _, m := range members.Members {
		if m.ID == req.TargetID {
			name = m.Name
		}
	}
	if name == "" {
		return nil, rpctypes.ErrGRPCMemberNotFound
	}
	if name == s.store.Name() {
		return &pb.MoveLeaderResponse{Header: s.store.ResponseHeader(s.store.Rev())}, nil
	}
	if err := s.store.TransferLeadership(ctx, name); err != nil {
		return nil, toGRPCError(fmt.Errorf("etcdapi: move leader to %s: %w", name, err))
	}
	return &pb.MoveLeaderResponse{Header: s.store.ResponseHeader(s.store.Rev())}, nil
}

// clusterServer is etcd's Cluster service; membership changes go through
// Skiff's own tooling, so only MemberList is served.
type clusterServer struct {
	pb.UnimplementedClusterServer
	store *raftstore.Store
}

func (s *clusterServer) MemberList(ctx context.Context, _ *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	resp, err := s.store.MemberList(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return resp, nil
}
