//go:build integration

package workload

import (
	"context"
	"net"
	"os"
	"slices"
	"strings"
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
)

// startEtcdCluster starts a three-member in-process store whose members
// serve the etcd API on loopback, and returns one etcd client per member.
// Everything stops at test cleanup.
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
		t.Cleanup(func() { // before the stores stop
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
	// Followers forward from the first request once every member knows
	// every client URL.
	deadline := time.Now().Add(10 * time.Second)
	for !allRegistered(sc) {
		if time.Now().After(deadline) {
			t.Fatal("members did not record each other's client URLs within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return sc, clis
}

func allRegistered(sc *storetest.Cluster) bool {
	for _, nd := range sc.Nodes {
		for _, other := range sc.Nodes {
			if _, ok := nd.Store().ClientURL(other.Name); !ok {
				return false
			}
		}
	}
	return true
}

// TestEtcdWorkloadPassesAndPlantedBugsFail runs the CAS register and the
// watchers against a healthy cluster for ~10 s, requires every checker to
// pass, then plants the bugs a broken store would show in the history and
// requires the matching checker to fail.
func TestEtcdWorkloadPassesAndPlantedBugsFail(t *testing.T) {
	_, clis := startEtcdCluster(t)
	dir := t.TempDir()
	rec, err := history.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rec.Close() })

	rcfg := DefaultRegisterConfig()
	rcfg.Keys, rcfg.Clients, rcfg.Seed = 4, 4, 1
	reg, err := NewEtcdRegister(rcfg, clis...)
	if err != nil {
		t.Fatal(err)
	}
	wcfg := DefaultWatchConfig()
	wcfg.Watchers, wcfg.RestartEvery, wcfg.Seed = 2, time.Second, 1
	wat, err := NewEtcdWatcher(wcfg, clis...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := Run(ctx, rec, reg, wat); err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer fcancel()
	if err := Final(fctx, rec, reg, wat); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := history.Load(dir)
	if err != nil {
		t.Fatal(err)
	}

	// The run did what it should have: all operation kinds, conflicts,
	// watch events and resumed sessions.
	status := map[string]int{}
	for _, op := range h.Operations() {
		status[string(op.Func)+"/"+string(op.Status)]++
	}
	sessions := h.Sessions()
	events := 0
	for _, s := range sessions {
		events += len(s.Events)
	}
	t.Logf("ran %s: %d entries, operations %v, %d watch sessions, %d events", time.Since(start).Round(time.Millisecond), len(h), status, len(sessions), events)
	for _, want := range []string{"read/ok", "write/ok", "cas/ok", "cas/fail"} {
		if status[want] == 0 {
			t.Errorf("no %s operations in the history", want)
		}
	}
	if len(sessions) <= wcfg.Watchers || events == 0 {
		t.Errorf("watchers recorded %d sessions and %d events: want resumed sessions and events", len(sessions), events)
	}

	ccfg := check.DefaultConfig()
	ccfg.ReportDir = dir
	vs, res, err := check.All(h, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Log(v)
		for _, d := range v.Details {
			t.Log("  ", d)
		}
	}
	if res != check.Pass {
		t.Fatalf("healthy cluster: verdict %s", res)
	}

	t.Run("stale reads", func(t *testing.T) {
		bad := reload(t, dir)
		n := plantStaleReads(bad)
		if n == 0 {
			t.Fatal("no read could be made stale")
		}
		v, err := check.Linearizable(bad, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		if v.Result != check.Fail || len(v.Files) == 0 {
			t.Fatalf("%d stale reads planted: %s, files %v", n, v, v.Files)
		}
		if _, err := os.Stat(v.Files[0]); err != nil {
			t.Errorf("visualisation: %v", err)
		}
		t.Logf("%d stale reads planted: %s", n, v)
	})
	t.Run("lost write", func(t *testing.T) {
		bad := reload(t, dir)
		if !plantLostWrite(bad) {
			t.Fatal("no key with two acknowledged writes")
		}
		if v := check.LostWrites(bad); v.Result != check.Fail {
			t.Fatalf("final value rolled back: %s", v)
		}
	})
	t.Run("watch gap and duplicate", func(t *testing.T) {
		for _, dup := range []bool{false, true} {
			bad, ok := plantWatchBug(reload(t, dir), dup)
			if !ok {
				t.Fatal("no session with three events")
			}
			v := check.Watch(bad)
			want := "gap"
			if dup {
				want = "duplicate"
			}
			if v.Result != check.Fail || !strings.Contains(strings.Join(v.Details, "\n"), want) {
				t.Fatalf("planted %s: %s %v", want, v, v.Details)
			}
		}
	})
}

func reload(t *testing.T, dir string) history.History {
	t.Helper()
	h, err := history.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// plantStaleReads makes up to ten of one client's reads return what a
// replica stuck in the past would: for a read that began after two
// acknowledged writes of its key had both completed, the older of the two
// values. It returns how many reads it changed.
func plantStaleReads(h history.History) int {
	ops := h.Operations()
	reader := -1
	changed := 0
	for _, r := range ops {
		if changed == 10 {
			break
		}
		if r.Func != history.Read || r.Status != history.OK || (reader >= 0 && r.Client != reader) {
			continue
		}
		var older, newer *history.Operation
		for i := range ops {
			w := &ops[i]
			if w.Key != r.Key || w.Status != history.OK || (w.Func != history.Write && w.Func != history.CAS) || w.Return >= r.Call {
				continue
			}
			if newer == nil || w.Out.Rev > newer.Out.Rev {
				older, newer = newer, w
			} else if older == nil || w.Out.Rev > older.Out.Rev {
				older = w
			}
		}
		// Stale for sure only if the newer write began after the older ended.
		if older == nil || newer.Call <= older.Return {
			continue
		}
		for i := range h {
			if h[i].Op == r.ID && h[i].Kind == history.OK {
				h[i].Out.Value, h[i].Out.Rev = older.In.Value, older.Out.Rev
			}
		}
		reader = r.Client
		changed++
	}
	return changed
}

// plantLostWrite rolls one key's final value back to an earlier
// acknowledged write, as a store that lost the later ones would show.
func plantLostWrite(h history.History) bool {
	finals := h.Finals()
	for _, w := range h.Operations() {
		f, ok := finals[w.Key]
		if !ok || w.Status != history.OK || w.Func == history.Read || w.Out.Rev >= f.Rev {
			continue
		}
		for i := range h {
			if h[i].Kind == history.Final && h[i].Key == w.Key {
				h[i].Out.Value, h[i].Out.Rev = w.In.Value, w.Out.Rev
				return true
			}
		}
	}
	return false
}

// plantWatchBug drops the second event of a session (a gap), or delivers it
// twice (a duplicate), and returns the changed history.
func plantWatchBug(h history.History, dup bool) (history.History, bool) {
	for _, s := range h.Sessions() {
		if len(s.Events) < 3 {
			continue
		}
		seen := 0
		for i := range h {
			if h[i].Op != s.ID || h[i].Kind != history.Event {
				continue
			}
			if seen++; seen < 2 {
				continue
			}
			out := slices.Clone(h[:i]) // the event is dropped
			if dup {
				out = append(slices.Clone(h[:i+1]), h[i]) // the event comes twice
			}
			return append(out, h[i+1:]...), true
		}
	}
	return h, false
}

// TestEtcdWorkloadUnderPartition isolates the leader for a few seconds in
// the middle of a run: operations on the isolated member end unknown or
// failed, and the checkers must still pass (the store is meant to be
// linearizable under partitions; a failure here is a store bug or a checker
// false positive, and the history is kept in the test's report directory).
func TestEtcdWorkloadUnderPartition(t *testing.T) {
	sc, clis := startEtcdCluster(t)
	dir := t.TempDir()
	rec, err := history.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rec.Close() })
	rcfg := DefaultRegisterConfig()
	rcfg.Keys, rcfg.Clients, rcfg.Seed, rcfg.OpTimeout = 3, 3, 2, time.Second
	reg, err := NewEtcdRegister(rcfg, clis...)
	if err != nil {
		t.Fatal(err)
	}
	wcfg := DefaultWatchConfig()
	wcfg.Watchers, wcfg.Seed = 2, 2
	wat, err := NewEtcdWatcher(wcfg, clis...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 9*time.Second)
	defer cancel()
	faults := make(chan struct{})
	go func() {
		defer close(faults)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		leader := sc.Leader()
		sc.Isolate(leader)
		t.Logf("isolated n%d", leader+1)
		select {
		case <-ctx.Done():
		case <-time.After(3 * time.Second):
		}
		sc.Heal()
	}()
	if _, err := Run(ctx, rec, reg, wat); err != nil {
		t.Fatal(err)
	}
	<-faults
	fctx, fcancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer fcancel()
	if err := Final(fctx, rec, reg); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := history.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]int{}
	for _, op := range h.Operations() {
		status[string(op.Func)+"/"+string(op.Status)]++
	}
	t.Logf("operations %v, %d watch sessions", status, len(h.Sessions()))
	if status["write/ok"]+status["cas/ok"] == 0 {
		t.Fatal("no acknowledged writes")
	}
	ccfg := check.DefaultConfig()
	ccfg.ReportDir = dir
	vs, res, err := check.All(h, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Log(v)
		for _, d := range v.Details {
			t.Log("  ", d)
		}
	}
	if res != check.Pass {
		t.Fatalf("verdict %s (history in %s)", res, dir)
	}
}
