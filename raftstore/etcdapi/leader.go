package etcdapi

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/skiff-sh/skiff/raftstore"
)

// Requests made with clientv3.WithRequireLeader (kube-apiserver makes its
// watches that way, and clientv3 its lease keep-alives) must not be served
// by a member cut off from the leader: such a member would keep a watch open
// that never sees another event. As etcd does, they are refused with
// ErrGRPCNoLeader when the member knows no leader, and their streams are
// ended with it when the member loses the leader, so the client moves to
// another member.

// leaderCheckInterval is how often a require-leader stream checks that the
// member still knows a leader; two failed checks in a row end the stream,
// so a leader election does not.
var leaderCheckInterval = 500 * time.Millisecond

var errLostLeader = errors.New("etcdapi: member lost the leader")

func requiresLeader(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && slices.Contains(md.Get(rpctypes.MetadataRequireLeaderKey), rpctypes.MetadataHasLeader)
}

func hasLeader(store *raftstore.Store) bool {
	_, id := store.Raft().LeaderWithID()
	return id != ""
}

func requireLeaderUnary(store *raftstore.Store) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if requiresLeader(ctx) && !hasLeader(store) {
			return nil, rpctypes.ErrGRPCNoLeader
		}
		return handler(ctx, req)
	}
}

func requireLeaderStream(store *raftstore.Store) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !requiresLeader(ss.Context()) {
			return handler(srv, ss)
		}
		if !hasLeader(store) {
			return rpctypes.ErrGRPCNoLeader
		}
		ctx, cancel := context.WithCancelCause(ss.Context())
		defer cancel(nil)
		monitorDone := make(chan struct{})
		go func() {
			defer close(monitorDone)
			watchLeader(ctx, store, cancel)
		}()
		err := handler(srv, &leaderStream{ServerStream: ss, ctx: ctx})
		lost := errors.Is(context.Cause(ctx), errLostLeader)
		cancel(nil)
		<-monitorDone
		if lost {
			return rpctypes.ErrGRPCNoLeader
		}
		return err
	}
}

// watchLeader cancels ctx with errLostLeader once the member has known no
// leader at two checks in a row.
func watchLeader(ctx context.Context, store *raftstore.Store, cancel context.CancelCauseFunc) {
	t := time.NewTicker(leaderCheckInterval)
	defer t.Stop()
	misses := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if hasLeader(store) {
			misses = 0
			continue
		}
		if misses++; misses >= 2 {
			cancel(errLostLeader)
			return
		}
	}
}

// leaderStream is a server stream whose context also ends when the member
// loses the leader.
type leaderStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *leaderStream) Context() context.Context { return s.ctx }
