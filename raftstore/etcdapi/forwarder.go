package etcdapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/skiff-sh/skiff/raftstore"
)

// Forwarder is the gRPC raftstore.Forwarder: it calls the leader's Peer
// service at the client URL the leader recorded in the replicated member
// table. It keeps one connection per address for its lifetime.
//
// Failures come back as the store's sentinels, so its retry rules apply:
// ErrNotLeader and ErrNoLeader mean nothing happened and the call may be
// retried. A proposal whose connection failed after the request went out
// fails with ErrTimeout: it may or may not have been applied. Read-index and
// lease calls are idempotent, so any connection failure is ErrNoLeader.
type Forwarder struct {
	dialOpts []grpc.DialOption
	resolve  atomic.Pointer[func(name string) (string, bool)]

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

var _ raftstore.Forwarder = (*Forwarder)(nil)

// NewForwarder returns a Forwarder that cannot reach anyone until SetStore.
// opts are added after the defaults (plaintext, no message size limits,
// quick reconnects); pass transport credentials here to use TLS.
func NewForwarder(opts ...grpc.DialOption) *Forwarder {
	defaults := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(sentTracker{}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
	}
	return &Forwarder{dialOpts: append(defaults, opts...), conns: map[string]*grpc.ClientConn{}}
}

// SetStore tells the Forwarder where to look up members' client URLs. The
// store is opened with the Forwarder in its Config, so this comes after
// raftstore.Open; until then every call fails with ErrNoLeader.
func (f *Forwarder) SetStore(s *raftstore.Store) {
	resolve := s.ClientURL
	f.resolve.Store(&resolve)
}

// Close closes every connection. Later calls fail with ErrStopped.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	var errs []error
	for addr, cc := range f.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("etcdapi: close connection to %s: %w", addr, err))
		}
	}
	clear(f.conns)
	return errors.Join(errs...)
}

// Propose implements raftstore.Forwarder.
func (f *Forwarder) Propose(ctx context.Context, leader raft.ServerID, cmd []byte) ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	if err := f.call(ctx, leader, methodPropose, wrapperspb.Bytes(cmd), out, false); err != nil {
		return nil, err
	}
	return out.GetValue(), nil
}

// ReadIndex implements raftstore.Forwarder.
func (f *Forwarder) ReadIndex(ctx context.Context, leader raft.ServerID) (uint64, error) {
	out := new(wrapperspb.UInt64Value)
	if err := f.call(ctx, leader, methodReadIndex, &emptypb.Empty{}, out, true); err != nil {
		return 0, err
	}
	return out.GetValue(), nil
}

// LeaseKeepAlive implements raftstore.Forwarder.
func (f *Forwarder) LeaseKeepAlive(ctx context.Context, leader raft.ServerID, id int64) (int64, error) {
	out := new(wrapperspb.Int64Value)
	if err := f.call(ctx, leader, methodLeaseKeepAlive, wrapperspb.Int64(id), out, true); err != nil {
		return 0, err
	}
	return out.GetValue(), nil
}

// LeaseTimeToLive implements raftstore.Forwarder.
func (f *Forwarder) LeaseTimeToLive(ctx context.Context, leader raft.ServerID, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	out := new(pb.LeaseTimeToLiveResponse)
	if err := f.call(ctx, leader, methodLeaseTimeToLive, req, out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// MemberStatus asks the named member for its own raftstore.Status (its
// role, term, indexes and, on the leader, every member's last contact).
func (f *Forwarder) MemberStatus(ctx context.Context, name string) (*raftstore.Status, error) {
	out := new(wrapperspb.BytesValue)
	if err := f.call(ctx, raft.ServerID(name), methodStatus, &emptypb.Empty{}, out, true); err != nil {
		return nil, err
	}
	st := new(raftstore.Status)
	if err := json.Unmarshal(out.GetValue(), st); err != nil {
		return nil, fmt.Errorf("etcdapi: status of member %s: %w", name, err)
	}
	return st, nil
}

// call invokes a Peer method on the leader and maps every failure to one of
// the store's sentinels (or a context error). idempotent says whether a
// request that may have reached the leader can safely be sent again.
func (f *Forwarder) call(ctx context.Context, leader raft.ServerID, method string, in, out any, idempotent bool) error {
	cc, addr, err := f.conn(leader)
	if err != nil {
		return err
	}
	sent := new(atomic.Bool)
	err = cc.Invoke(context.WithValue(ctx, sentKey{}, sent), method, in, out)
	if err == nil {
		return nil
	}
	what := fmt.Sprintf("forward %s to leader %s at %s", method[strings.LastIndexByte(method, '/')+1:], leader, addr)
	st, isStatus := status.FromError(err)
	if isStatus {
		if known, ok := fromPeerStatus(st); ok {
			return fmt.Errorf("%w (%s: %s)", known, what, st.Message())
		}
	}
	ctxErr := ctx.Err()
	if ctxErr == nil && isStatus && st.Code() == codes.DeadlineExceeded {
		// The leader saw the deadline (ours, propagated) pass a moment
		// before we did.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil {
		if sent.Load() && !idempotent {
			return fmt.Errorf("%w: %s: outcome unknown: %w", raftstore.ErrTimeout, what, ctxErr)
		}
		return fmt.Errorf("etcdapi: %s: %w", what, ctxErr)
	}
	if !isStatus || st.Code() == codes.Unavailable || st.Code() == codes.Canceled {
		// The connection failed (or the leader is going away).
		if sent.Load() && !idempotent {
			return fmt.Errorf("%w: %s: connection failed after the request was sent, outcome unknown: %v", raftstore.ErrTimeout, what, err)
		}
		return fmt.Errorf("%w: %s: %v", raftstore.ErrNoLeader, what, err)
	}
	return fmt.Errorf("etcdapi: %s: %w", what, err)
}

// conn returns the connection to a member, dialing it on first use.
func (f *Forwarder) conn(name raft.ServerID) (*grpc.ClientConn, string, error) {
	resolve := f.resolve.Load()
	if resolve == nil {
		return nil, "", fmt.Errorf("%w: forwarder has no store yet", raftstore.ErrNoLeader)
	}
	u, ok := (*resolve)(string(name))
	if !ok {
		return nil, "", fmt.Errorf("%w: leader %s has not recorded its client URL", raftstore.ErrNoLeader, name)
	}
	addr, err := dialAddress(u)
	if err != nil {
		return nil, "", fmt.Errorf("etcdapi: leader %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, "", fmt.Errorf("%w: forwarder closed", raftstore.ErrStopped)
	}
	if cc, ok := f.conns[addr]; ok {
		return cc, addr, nil
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, f.dialOpts...)
	if err != nil {
		return nil, "", fmt.Errorf("etcdapi: connect to leader %s at %s: %w", name, addr, err)
	}
	f.conns[addr] = cc
	return cc, addr, nil
}

// dialAddress turns a client URL (http://host:port, https://host:port or a
// bare host:port) into a gRPC dial address.
func dialAddress(clientURL string) (string, error) {
	if !strings.Contains(clientURL, "://") {
		return clientURL, nil
	}
	u, err := url.Parse(clientURL)
	if err != nil {
		return "", fmt.Errorf("parse client URL %q: %w", clientURL, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return "", fmt.Errorf("client URL %q has no host", clientURL)
		}
		return u.Host, nil
	}
	return "", fmt.Errorf("client URL %q: unsupported scheme %q", clientURL, u.Scheme)
}

// sentKey marks a call's context with a flag set once the request message
// has been handed to the connection: before that, a failure means the
// leader cannot have seen the request.
type sentKey struct{}

type sentTracker struct{}

func (sentTracker) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (sentTracker) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.OutPayload); !ok {
		return
	}
	if sent, ok := ctx.Value(sentKey{}).(*atomic.Bool); ok {
		sent.Store(true)
	}
}

func (sentTracker) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (sentTracker) HandleConn(context.Context, stats.ConnStats) {}
