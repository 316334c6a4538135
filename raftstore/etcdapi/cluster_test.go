package etcdapi

import (
	"context"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

// cluster is a three-member in-process store (raft over storetest's
// in-memory transport) whose members serve the etcd API and the Peer service
// on loopback, forwarding to the leader with the gRPC Forwarder.
type cluster struct {
	*storetest.Cluster
	urls []string // client URL of member i: http://127.0.0.1:port
}

// newCluster starts the cluster; everything stops at test cleanup.
func newCluster(t *testing.T, opts ...Option) *cluster {
	t.Helper()
	lis := map[string]net.Listener{}
	fwds := map[string]*Forwarder{}
	sc := storetest.New(t, 3, func(cfg *raftstore.Config) {
		l := lis[cfg.Name]
		if l == nil {
			var err error
			if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				t.Fatalf("listen for %s: %v", cfg.Name, err)
			}
			lis[cfg.Name] = l
			fwds[cfg.Name] = NewForwarder()
		}
		cfg.ClientURL = "http://" + l.Addr().String()
		cfg.Forwarder = fwds[cfg.Name]
	})
	c := &cluster{Cluster: sc}
	for _, nd := range sc.Nodes {
		s, fwd, l := nd.Store(), fwds[nd.Name], lis[nd.Name]
		fwd.SetStore(s)
		gs := grpc.NewServer(ServerOptions(s)...)
		Register(gs, s, opts...)
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = gs.Serve(l)
		}()
		// Runs before storetest's cleanup: servers stop before the stores.
		t.Cleanup(func() {
			gs.Stop()
			<-served
			_ = fwd.Close()
		})
		c.urls = append(c.urls, "http://"+l.Addr().String())
	}
	c.waitRegistered(t)
	return c
}

// waitRegistered waits until every member sees every client URL, so
// followers can forward from the first request.
func (c *cluster) waitRegistered(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok := true
		for _, nd := range c.Nodes {
			for _, other := range c.Nodes {
				if _, found := nd.Store().ClientURL(other.Name); !found {
					ok = false
				}
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members did not record each other's client URLs within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// follower returns the index of a member that is not the leader.
func (c *cluster) follower(t *testing.T) int {
	t.Helper()
	return (c.Leader() + 1) % len(c.Nodes)
}

// client connects an etcd client to the given endpoints.
func newClient(t *testing.T, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client for %v: %v", endpoints, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// ctx returns a context for one step of a test.
func stepCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkGoroutines fails the test if goroutines it started are still running
// a few seconds after its cleanups. Call it first, so its cleanup runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	storetest.CheckGoroutines(t)
}
