package server_test

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/skiff-sh/skiff/control/server"
	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

func TestParsePeers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"  ", map[string]string{}},
		{"n1=127.0.0.1:2380", map[string]string{"n1": "127.0.0.1:2380"}},
		{
			"n1=127.0.0.1:2380,n2=127.0.0.1:2381,n3=127.0.0.1:2382",
			map[string]string{"n1": "127.0.0.1:2380", "n2": "127.0.0.1:2381", "n3": "127.0.0.1:2382"},
		},
		{" n1=10.0.0.1:2380 , n2=node-2.example:2380 ", map[string]string{"n1": "10.0.0.1:2380", "n2": "node-2.example:2380"}},
		{"a=[::1]:2380", map[string]string{"a": "[::1]:2380"}},
	} {
		got, err := server.ParsePeers(tc.in)
		if err != nil {
			t.Errorf("ParsePeers(%q): %v", tc.in, err)
			continue
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("ParsePeers(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParsePeersErrors(t *testing.T) {
	for _, tc := range []struct {
		in, wantErr string
	}{
		{"n1", `server: peer "n1": want name=host:port`},
		{"n1:127.0.0.1:2380", `server: peer "n1:127.0.0.1:2380": want name=host:port`},
		{"=127.0.0.1:2380", `server: peer "=127.0.0.1:2380": want name=host:port`},
		{"n1=", `server: peer "n1=": want name=host:port`},
		{"n1=127.0.0.1:2380,", `server: peer "": want name=host:port`},
		{",", `server: peer "": want name=host:port`},
		{"n1=127.0.0.1", `server: peer "n1=127.0.0.1": address 127.0.0.1: missing port in address`},
		{"n1=1.2.3.4:5:6", `server: peer "n1=1.2.3.4:5:6": address 1.2.3.4:5:6: too many colons in address`},
		{"n1=127.0.0.1:2380,n2=localhost", `server: peer "n2=localhost": address localhost: missing port in address`},
		{"n1=127.0.0.1:2380,n1=127.0.0.1:2381", `server: peer "n1" named twice`},
		{"n1=127.0.0.1:2380, n1=127.0.0.1:2380", `server: peer "n1" named twice`},
	} {
		got, err := server.ParsePeers(tc.in)
		if err == nil {
			t.Errorf("ParsePeers(%q) = %v, want error %q", tc.in, got, tc.wantErr)
			continue
		}
		if err.Error() != tc.wantErr {
			t.Errorf("ParsePeers(%q) error:\n got %q\nwant %q", tc.in, err, tc.wantErr)
		}
	}
}

// TestParsePeersBadPorts lists addresses that net.SplitHostPort accepts but no
// member can listen on or dial: a typo in --peers must fail at start, not
// surface later as a member raft cannot reach.
func TestParsePeersBadPorts(t *testing.T) {
	for _, in := range []string{"n1=127.0.0.1:abc", "n1=127.0.0.1:", "n1=127.0.0.1:99999", "n1=:", "n1=127.0.0.1:-1"} {
		if got, err := server.ParsePeers(in); err == nil {
			t.Errorf("ParsePeers(%q) = %v, want an error", in, got)
		}
	}
}

// validConfig is a three-member node's configuration that passes Validate.
func validConfig() server.Config {
	cfg := server.DefaultConfig()
	cfg.Name = "n1"
	cfg.DataDir = "/var/lib/skiff"
	cfg.RaftAddr = "127.0.0.1:2380"
	cfg.ClientAddr = "127.0.0.1:2379"
	cfg.Peers = map[string]string{"n1": "127.0.0.1:2380", "n2": "127.0.0.1:3380", "n3": "127.0.0.1:4380"}
	return cfg
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(*server.Config)
		wantErr string // empty: valid
	}{
		{"three members", func(*server.Config) {}, ""},
		{"single member, no peers", func(c *server.Config) { c.Peers = nil }, ""},
		{"single member, names itself", func(c *server.Config) { c.Peers = map[string]string{"n1": c.RaftAddr} }, ""},
		{"no name", func(c *server.Config) { c.Name = "" }, "server: --name is required"},
		{"no data dir", func(c *server.Config) { c.DataDir = "" }, "server: --data-dir is required"},
		{"no raft address", func(c *server.Config) { c.RaftAddr = "" }, "server: --raft-addr is required"},
		{"no client address", func(c *server.Config) { c.ClientAddr = "" }, "server: --client-addr is required"},
		{"peers without this member", func(c *server.Config) { delete(c.Peers, "n1") }, `server: --peers does not name this member "n1"`},
		{"another member's name", func(c *server.Config) { c.Name = "n4" }, `server: --peers does not name this member "n4"`},
		{
			"raft address differs from peers",
			func(c *server.Config) { c.RaftAddr = "127.0.0.1:2390" },
			"server: --peers gives n1=127.0.0.1:2380 but --raft-addr is 127.0.0.1:2390",
		},
		{
			"same port, other spelling",
			func(c *server.Config) { c.RaftAddr = "localhost:2380" },
			"server: --peers gives n1=127.0.0.1:2380 but --raft-addr is localhost:2380",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Validate: nil, want %q", tc.wantErr)
			case tc.wantErr != "" && err.Error() != tc.wantErr:
				t.Fatalf("Validate:\n got %q\nwant %q", err, tc.wantErr)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := server.DefaultConfig()
	if cfg.Logger == nil || cfg.Store.Logger == nil {
		t.Errorf("DefaultConfig: nil logger (Logger %v, Store.Logger %v)", cfg.Logger, cfg.Store.Logger)
	}
	// Only the data directory is missing from a single-member default.
	if err := cfg.Validate(); err == nil || err.Error() != "server: --data-dir is required" {
		t.Errorf("DefaultConfig().Validate() = %v, want the missing --data-dir", err)
	}
	cfg.DataDir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Errorf("DefaultConfig with a data dir: Validate: %v", err)
	}
}

// TestRunSingleMember serves a one-member store in process: it becomes ready,
// takes a write, shuts down cleanly on cancellation, frees its ports, and
// finds the write again when started on the same data directory.
func TestRunSingleMember(t *testing.T) {
	checkGoroutines(t)
	addrs := freeAddrs(t, 2)
	cfg := testConfig(t, "solo", addrs[0], addrs[1])

	stop := startRun(t, cfg)
	cli := newClient(t, cfg.ClientAddr)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	put, err := cli.Put(ctx, "greeting", "hello")
	if err != nil {
		t.Fatalf("put greeting: %v", err)
	}
	if id := raftstore.MemberID("solo"); put.Header.MemberId != id {
		t.Errorf("put header member ID %x, want %x", put.Header.MemberId, id)
	}
	got, err := cli.Get(ctx, "greeting")
	if err != nil {
		t.Fatalf("get greeting: %v", err)
	}
	if len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "hello" || got.Kvs[0].ModRevision != put.Header.Revision {
		t.Fatalf("get greeting = %v, want hello at revision %d", got.Kvs, put.Header.Revision)
	}
	st, err := cli.Status(ctx, cfg.ClientAddr)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if st.Leader != st.Header.MemberId {
		t.Errorf("status: leader %x, want this member %x", st.Leader, st.Header.MemberId)
	}
	cli.Close()
	stop()
	for _, a := range addrs {
		assertPortFree(t, a)
	}

	// The same data directory: the write survives a clean restart.
	stop = startRun(t, cfg)
	cli = newClient(t, cfg.ClientAddr)
	got, err = cli.Get(ctx, "greeting")
	if err != nil {
		t.Fatalf("get greeting after restart: %v", err)
	}
	if len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "hello" || got.Kvs[0].ModRevision != put.Header.Revision {
		t.Fatalf("get greeting after restart = %v, want hello at revision %d", got.Kvs, put.Header.Revision)
	}
	cli.Close()
	stop()
	for _, a := range addrs {
		assertPortFree(t, a)
	}
}

// TestRunStopsWithOpenWatch checks that a client's open watch stream, which
// never ends by itself, does not hold up shutdown for long.
func TestRunStopsWithOpenWatch(t *testing.T) {
	checkGoroutines(t)
	addrs := freeAddrs(t, 2)
	cfg := testConfig(t, "watched", addrs[0], addrs[1])
	stop := startRun(t, cfg)
	cli := newClient(t, cfg.ClientAddr)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// The write first: a require-leader watch is refused until there is a leader.
	put, err := cli.Put(ctx, "watched/a", "1")
	if err != nil {
		t.Fatalf("put watched/a: %v", err)
	}
	wch := cli.Watch(clientv3.WithRequireLeader(ctx), "watched/", clientv3.WithPrefix(), clientv3.WithRev(put.Header.Revision))
	select {
	case wr := <-wch:
		if err := wr.Err(); err != nil || len(wr.Events) != 1 {
			t.Fatalf("watch response %+v, %v; want one event", wr, err)
		}
	case <-ctx.Done():
		t.Fatal("no watch event within 10s")
	}
	start := time.Now()
	stop()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Run took %v to return with a watch open, want under 3s", took)
	}
	cli.Close()
	for _, a := range addrs {
		assertPortFree(t, a)
	}
}

// TestRunBusyPort checks that a taken port is reported by Run, before the
// store starts, and that the other port is released.
func TestRunBusyPort(t *testing.T) {
	for _, which := range []string{"raft", "clients"} {
		t.Run(which, func(t *testing.T) {
			addrs := freeAddrs(t, 2)
			cfg := testConfig(t, "busy", addrs[0], addrs[1])
			busy, other := cfg.RaftAddr, cfg.ClientAddr
			if which == "clients" {
				busy, other = other, busy
			}
			ln, err := net.Listen("tcp", busy)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			ready := false
			cfg.Ready = func() { ready = true }
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err = server.Run(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), "server: listen for "+which+" on "+busy) {
				t.Fatalf("Run with %s port %s taken: %v, want a listen error naming it", which, busy, err)
			}
			if ready {
				t.Error("Ready was called although Run failed")
			}
			assertPortFree(t, other)
		})
	}
}

func TestRunInvalidConfig(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.Name = "n1"
	cfg.Peers = map[string]string{"n2": "127.0.0.1:1"}
	cfg.DataDir = t.TempDir()
	err := server.Run(t.Context(), cfg)
	if err == nil || err.Error() != `server: --peers does not name this member "n1"` {
		t.Fatalf("Run with an invalid config: %v, want Validate's error", err)
	}
}

// testConfig is a single-member node on the given loopback addresses with a
// fresh data directory, logging into the test's output.
func testConfig(t *testing.T, name, raftAddr, clientAddr string) server.Config {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Name = name
	cfg.DataDir = t.TempDir()
	cfg.RaftAddr = raftAddr
	cfg.ClientAddr = clientAddr
	cfg.APIAddr = "127.0.0.1:0"
	// The built-in modules load once per process (the first server's cache
	// dir is the process's): keep it out of any one test's temp dir.
	cfg.WasmCache = filepath.Join(os.TempDir(), "skiff-server-test-wasm-cache")
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.Store.HeartbeatTimeout = 100 * time.Millisecond
	cfg.Store.ElectionTimeout = 100 * time.Millisecond
	cfg.Store.LeaderLeaseTimeout = 50 * time.Millisecond
	return cfg
}

// startRun runs cfg in the background until it has called Ready, and returns
// a function that cancels it and checks that Run returns nil.
func startRun(t *testing.T, cfg server.Config) (stop func()) {
	t.Helper()
	ready := make(chan struct{})
	var calls atomic.Int32
	cfg.Ready = func() {
		if calls.Add(1) == 1 {
			close(ready)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before Ready: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("Ready not called within 30s")
	}
	var stopped bool
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel: %v, want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not return within 15s of cancel")
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("Ready called %d times, want once", n)
		}
	}
	t.Cleanup(stop)
	return stop
}

// newClient is an etcd client of one endpoint that logs nothing; it is
// closed at cleanup if the test has not closed it.
func newClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client for %s: %v", endpoint, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// freeAddrs returns n distinct loopback addresses whose ports the kernel
// reported free. All listeners stay open until every port is known, so no
// port is handed out twice; another process may still take one before use.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("pick a free port: %v", err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// assertPortFree fails unless addr can be listened on, retrying briefly.
func assertPortFree(t testing.TB, addr string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			ln.Close()
			return
		}
	}
	t.Errorf("port %s still taken: %v", addr, err)
}

// checkGoroutines fails the test if goroutines started during it still run a
// few seconds after its cleanups. Call it first, so its cleanup runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	storetest.CheckGoroutines(t)
}
