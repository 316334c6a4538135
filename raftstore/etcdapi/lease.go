package etcdapi

import (
	"context"
	"errors"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/skiff-sh/skiff/raftstore"
)

// leaseServer is etcd's Lease service.
type leaseServer struct {
	pb.UnimplementedLeaseServer
	store *raftstore.Store
}

func (s *leaseServer) LeaseGrant(ctx context.Context, req *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	resp, err := s.store.LeaseGrant(ctx, req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return resp, nil
}

func (s *leaseServer) LeaseRevoke(ctx context.Context, req *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	resp, err := s.store.LeaseRevoke(ctx, req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return resp, nil
}

// LeaseKeepAlive renews leases one request at a time, as etcd does. An
// unknown lease is answered with TTL 0, not an error: the client takes it as
// expired. The header is taken before the renewal, so its revision is never
// past a revoke the renewal raced with.
func (s *leaseServer) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	ctx := stream.Context()
	// Recv cannot be interrupted, so it runs on its own goroutine and the
	// stream ends as soon as its context does (a require-leader stream's
	// context ends when the member loses the leader). The goroutine ends
	// once gRPC has torn the stream down.
	type recvResult struct {
		req *pb.LeaseKeepAliveRequest
		err error
	}
	reqc := make(chan recvResult)
	go func() {
		for {
			req, err := stream.Recv()
			select {
			case reqc <- recvResult{req, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		var r recvResult
		select {
		case r = <-reqc:
		case <-ctx.Done():
			return toGRPCError(ctx.Err())
		}
		if errors.Is(r.err, io.EOF) {
			return nil
		}
		if r.err != nil {
			return r.err
		}
		resp := &pb.LeaseKeepAliveResponse{ID: r.req.ID, Header: s.store.ResponseHeader(s.store.Rev())}
		ttl, err := s.store.LeaseKeepAlive(ctx, r.req.ID)
		if errors.Is(err, raftstore.ErrLeaseNotFound) {
			ttl, err = 0, nil
		}
		if err != nil {
			return toGRPCError(err)
		}
		resp.TTL = ttl
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// LeaseTimeToLive answers an unknown lease with TTL -1, as etcd does.
func (s *leaseServer) LeaseTimeToLive(ctx context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	resp, err := s.store.LeaseTimeToLive(ctx, req)
	if errors.Is(err, raftstore.ErrLeaseNotFound) {
		return &pb.LeaseTimeToLiveResponse{Header: s.store.ResponseHeader(s.store.Rev()), ID: req.ID, TTL: -1}, nil
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	return resp, nil
}

func (s *leaseServer) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	resp, err := s.store.LeaseLeases(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return resp, nil
}
