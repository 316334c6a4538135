package etcdapi

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/skiff-sh/skiff/raftstore"
)

// Errors the leader's store returns reach the follower as the same
// sentinels.
func TestForwarderCarriesStoreErrors(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	leader := c.Nodes[c.Leader()]
	follower := c.Nodes[c.follower(t)]
	fwd := NewForwarder()
	t.Cleanup(func() { _ = fwd.Close() })
	fwd.SetStore(follower.Store())
	ctx := stepCtx(t)

	if _, err := fwd.Propose(ctx, raft.ServerID(follower.Name), []byte{1}); !errors.Is(err, raftstore.ErrNotLeader) {
		t.Errorf("propose to a follower: err %v; want %v", err, raftstore.ErrNotLeader)
	}
	big := make([]byte, leader.Store().MaxRequestBytes()+1)
	if _, err := fwd.Propose(ctx, raft.ServerID(leader.Name), big); !errors.Is(err, raftstore.ErrRequestTooLarge) {
		t.Errorf("propose an oversize command: err %v; want %v", err, raftstore.ErrRequestTooLarge)
	}
	if _, err := fwd.LeaseKeepAlive(ctx, raft.ServerID(leader.Name), 42); !errors.Is(err, raftstore.ErrLeaseNotFound) {
		t.Errorf("keep alive an unknown lease: err %v; want %v", err, raftstore.ErrLeaseNotFound)
	}
	if _, err := fwd.LeaseTimeToLive(ctx, raft.ServerID(leader.Name), &pb.LeaseTimeToLiveRequest{ID: 42}); !errors.Is(err, raftstore.ErrLeaseNotFound) {
		t.Errorf("time to live of an unknown lease: err %v; want %v", err, raftstore.ErrLeaseNotFound)
	}
	if idx, err := fwd.ReadIndex(ctx, raft.ServerID(leader.Name)); err != nil || idx == 0 {
		t.Errorf("read index = %d, %v", idx, err)
	}
	if _, err := fwd.ReadIndex(ctx, "nobody"); !errors.Is(err, raftstore.ErrNoLeader) {
		t.Errorf("read index from a member with no client URL: err %v; want %v", err, raftstore.ErrNoLeader)
	}
}

// hangingPeer is a Peer service that holds every call until the client
// gives up or the server stops, telling the test when a call arrived.
type hangingPeer struct{ arrived chan string }

func (h *hangingPeer) hang(ctx context.Context, method string) error {
	h.arrived <- method
	<-ctx.Done()
	return ctx.Err()
}

func (h *hangingPeer) Propose(ctx context.Context, _ *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	return nil, h.hang(ctx, "Propose")
}

func (h *hangingPeer) ReadIndex(ctx context.Context, _ *emptypb.Empty) (*wrapperspb.UInt64Value, error) {
	return nil, h.hang(ctx, "ReadIndex")
}

func (h *hangingPeer) LeaseKeepAlive(ctx context.Context, _ *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error) {
	return nil, h.hang(ctx, "LeaseKeepAlive")
}

func (h *hangingPeer) LeaseTimeToLive(ctx context.Context, _ *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	return nil, h.hang(ctx, "LeaseTimeToLive")
}

func (h *hangingPeer) Status(ctx context.Context, _ *emptypb.Empty) (*wrapperspb.BytesValue, error) {
	return nil, h.hang(ctx, "Status")
}

// fixedForwarder returns a Forwarder that finds every member at addr.
func fixedForwarder(t *testing.T, addr string) *Forwarder {
	t.Helper()
	fwd := NewForwarder()
	resolve := func(string) (string, bool) { return "http://" + addr, true }
	fwd.resolve.Store(&resolve)
	t.Cleanup(func() { _ = fwd.Close() })
	return fwd
}

// A connection lost before the request left is safe to retry (ErrNoLeader);
// one lost after a proposal left has an unknown outcome (ErrTimeout); for
// the idempotent calls any loss is ErrNoLeader.
func TestForwarderConnectionFailures(t *testing.T) {
	checkGoroutines(t)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	closedAddr := l.Addr().String()
	_ = l.Close()
	if _, err := fixedForwarder(t, closedAddr).Propose(stepCtx(t), "n1", []byte{1}); !errors.Is(err, raftstore.ErrNoLeader) {
		t.Errorf("propose to a closed port: err %v; want %v", err, raftstore.ErrNoLeader)
	}
	if _, err := NewForwarder().Propose(stepCtx(t), "n1", []byte{1}); !errors.Is(err, raftstore.ErrNoLeader) {
		t.Errorf("propose before SetStore: err %v; want %v", err, raftstore.ErrNoLeader)
	}

	type call struct {
		name string
		do   func(context.Context, *Forwarder) error
		want error
	}
	calls := []call{
		{"Propose", func(ctx context.Context, f *Forwarder) error {
			_, err := f.Propose(ctx, "n1", []byte{1})
			return err
		}, raftstore.ErrTimeout},
		{"ReadIndex", func(ctx context.Context, f *Forwarder) error {
			_, err := f.ReadIndex(ctx, "n1")
			return err
		}, raftstore.ErrNoLeader},
		{"LeaseKeepAlive", func(ctx context.Context, f *Forwarder) error {
			_, err := f.LeaseKeepAlive(ctx, "n1", 1)
			return err
		}, raftstore.ErrNoLeader},
		{"MemberStatus", func(ctx context.Context, f *Forwarder) error {
			_, err := f.MemberStatus(ctx, "n1")
			return err
		}, raftstore.ErrNoLeader},
	}
	for _, cl := range calls {
		t.Run(cl.name+"/server stops mid-call", func(t *testing.T) {
			peer := &hangingPeer{arrived: make(chan string, 1)}
			addr, stop := servePeer(t, peer)
			fwd := fixedForwarder(t, addr)
			errc := make(chan error, 1)
			go func() { errc <- cl.do(stepCtx(t), fwd) }()
			select {
			case <-peer.arrived:
			case <-time.After(10 * time.Second):
				t.Fatalf("the call never reached the server")
			}
			stop()
			err := <-errc
			t.Logf("got: %v", err)
			if !errors.Is(err, cl.want) {
				t.Fatalf("err %v; want %v", err, cl.want)
			}
		})
	}

	t.Run("Propose/deadline while the leader holds it", func(t *testing.T) {
		peer := &hangingPeer{arrived: make(chan string, 1)}
		addr, _ := servePeer(t, peer)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err := fixedForwarder(t, addr).Propose(ctx, "n1", []byte{1})
		if !errors.Is(err, raftstore.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v; want %v and %v", err, raftstore.ErrTimeout, context.DeadlineExceeded)
		}
	})
}

// servePeer serves a Peer service on loopback until stop or cleanup.
func servePeer(t *testing.T, peer peerService) (addr string, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	gs := grpc.NewServer()
	registerPeer(gs, peer)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(l)
	}()
	stop = func() {
		gs.Stop()
		<-served
	}
	t.Cleanup(stop)
	return l.Addr().String(), stop
}

func TestDialAddress(t *testing.T) {
	for _, tc := range []struct{ url, want, err string }{
		{"http://127.0.0.1:2379", "127.0.0.1:2379", ""},
		{"https://[::1]:2379", "[::1]:2379", ""},
		{"10.0.0.1:2379", "10.0.0.1:2379", ""},
		{"unix:///run/skiff.sock", "", "unsupported scheme"},
		{"http://", "", "no host"},
	} {
		got, err := dialAddress(tc.url)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("dialAddress(%q) = %q, %v; want %q, error containing %q", tc.url, got, err, tc.want, tc.err)
		}
	}
}
