//go:build chaosbug

package planted

import (
	"context"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/etcdapi"
	"github.com/skiff-sh/skiff/raftstore/storetest"
	"github.com/skiff-sh/skiff/tools/chaos/check"
	"github.com/skiff-sh/skiff/tools/chaos/history"
	"github.com/skiff-sh/skiff/tools/chaos/workload"
)

// startEtcdCluster starts a three-member in-process store whose members
// serve the etcd API on loopback, and returns one etcd client per member.
func startEtcdCluster(t *testing.T) (*storetest.Cluster, []*clientv3.Client) {
	t.Helper()
	lis := map[string]net.Listener{}
	fwds := map[string]*etcdapi.Forwarder{}
	sc := storetest.New(t, 3, func(cfg *raftstore.Config) {
		l := lis[cfg.Name]
		if l == nil {
			var err error
			if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				t.Fatalf("listen for %s: %v", cfg.Name, err)
			}
			lis[cfg.Name] = l
			fwds[cfg.Name] = etcdapi.NewForwarder()
		}
		cfg.ClientURL = "http://" + l.Addr().String()
		cfg.Forwarder = fwds[cfg.Name]
	})
	var clis []*clientv3.Client
	for _, nd := range sc.Nodes {
		s, fwd, l := nd.Store(), fwds[nd.Name], lis[nd.Name]
		fwd.SetStore(s)
		gs := grpc.NewServer(etcdapi.ServerOptions(s)...)
		etcdapi.Register(gs, s)
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = gs.Serve(l)
		}()
		t.Cleanup(func() {
			gs.Stop()
			<-served
			_ = fwd.Close()
		})
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{l.Addr().String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatalf("etcd client for %s: %v", nd.Name, err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		clis = append(clis, cli)
	}
	return sc, clis
}

// TestPlantedStaleFollowerReadsAreIllegal: with followers serving reads
// without confirming leadership (the chaosbug build), a follower cut off
// from raft keeps answering from its stale state while the others write;
// the linearizability checker must call some key illegal.
func TestPlantedStaleFollowerReadsAreIllegal(t *testing.T) {
	sc, clis := startEtcdCluster(t)
	leader := sc.Leader()
	follower := (leader + 1) % 3
	dir := t.TempDir()
	rec, err := history.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rec.Close() })
	cfg := workload.DefaultRegisterConfig()
	cfg.Keys, cfg.Clients, cfg.Seed = 2, 6, 1
	cfg.OpTimeout = time.Second
	reg, err := workload.NewEtcdRegister(cfg, clis...)
	if err != nil {
		t.Fatal(err)
	}
	// Cut the follower off raft (its etcd endpoint stays reachable) once the
	// registers have values, and keep it cut while the clients run.
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
			sc.Partition([]int{leader, (leader + 2) % 3}, []int{follower})
		}
	}()
	if _, err := workload.Run(ctx, rec, reg); err != nil {
		t.Fatal(err)
	}
	sc.Heal()
	fctx, fcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer fcancel()
	if err := workload.Final(fctx, rec, reg); err != nil {
		t.Fatal(err)
	}
	ccfg := check.DefaultConfig()
	ccfg.ReportDir = dir
	v, err := check.Linearizable(rec.History(), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %v", v, v.Details)
	if v.Result != check.Fail || v.Violations == 0 {
		t.Fatalf("the linearizability checker missed the planted stale reads: %s", v)
	}
	if len(v.Files) == 0 {
		t.Errorf("no visualisation of the illegal key was written")
	}
}
