package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/membership"
	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/control/server"
)

// syncBuffer is a log sink the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serfMember is a server that forms the cluster through Serf: no --peers, only
// --bootstrap-expect and --join.
// The addresses of every member of a test are picked at once: ports picked by separate calls
// can repeat (a closed listener's port is free again).
func serfMember(t *testing.T, addrs []string, name string, expect int, join string, cleanup time.Duration) (*member, *syncBuffer) {
	t.Helper()
	cfg := testConfig(t, name, addrs[0], addrs[1])
	cfg.APIAddr = addrs[2]
	cfg.SerfAddr = addrs[3]
	cfg.JoinToken = "autopilot-test-token"
	cfg.BootstrapExpect = expect
	if join != "" {
		cfg.Join = []string{join}
	}
	cfg.DeadServerCleanup = cleanup
	cfg.Autopilot = membership.AutopilotConfig{StabilizationTime: time.Second, MaxLagEntries: 250, LastContactThreshold: time.Second}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(&teeWriter{t: t, buf: logs}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return &member{cfg: cfg}, logs
}

// teeWriter writes to the test's output and keeps a copy.
type teeWriter struct {
	t   *testing.T
	buf *syncBuffer
}

func (l *teeWriter) Write(p []byte) (int, error) {
	l.buf.Write(p)
	return l.t.Output().Write(p)
}

func (m *member) status(t *testing.T) ([]apiserver.ServerStatus, error) {
	t.Helper()
	raw, err := m.clientset(t).Discovery().RESTClient().Get().AbsPath(apiserver.StatusPath).DoRaw(t.Context())
	if err != nil {
		return nil, err
	}
	var out []apiserver.ServerStatus
	return out, json.Unmarshal(raw, &out)
}

// voters counts the voters and non-voters a member reports, and its leader.
func census(servers []apiserver.ServerStatus) (voters, nonvoters int, leader string) {
	for _, s := range servers {
		if s.Voter {
			voters++
		} else {
			nonvoters++
		}
		if s.State == "Leader" {
			leader = s.Name
		}
	}
	return voters, nonvoters, leader
}

func startAll(t *testing.T, ms ...*member) {
	t.Helper()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { m.start(t) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, m := range ms {
			m.stop(t)
		}
	})
}

// Three servers started with only --bootstrap-expect 3 and --join form one cluster; a fourth
// joins as a non-voter and is promoted; once stopped, `skiff cluster remove` takes it out of
// raft; a leader that stops hands its leadership over.
func TestBootstrapExpectJoinPromoteRemove(t *testing.T) {
	addrs := freeAddrs(t, 16)
	n1, log1 := serfMember(t, addrs[0:4], "n1", 3, "", time.Hour)
	seed := n1.cfg.SerfAddr
	n2, log2 := serfMember(t, addrs[4:8], "n2", 3, seed, time.Hour)
	n3, log3 := serfMember(t, addrs[8:12], "n3", 3, seed, time.Hour)
	startAll(t, n1, n2, n3)
	var leader string
	eventually(t, "one cluster of three voters", 20*time.Second, func() bool {
		servers, err := n2.status(t)
		if err != nil {
			return false
		}
		v, nv, l := census(servers)
		leader = l
		return v == 3 && nv == 0 && l != ""
	})

	// Once bootstrapped, every server says so in its tags, so that later servers join instead.
	eventually(t, "raft_state=true on every server", 10*time.Second, func() bool {
		raw, err := n1.clientset(t).Discovery().RESTClient().Get().AbsPath(apiserver.MembersPath).DoRaw(t.Context())
		if err != nil {
			return false
		}
		var members []membership.Member
		if json.Unmarshal(raw, &members) != nil || len(members) != 3 {
			return false
		}
		for _, m := range members {
			if m.Tags[membership.TagRaftState] != "true" {
				return false
			}
		}
		return true
	})

	n4, _ := serfMember(t, addrs[12:16], "n4", 3, seed, time.Hour)
	n4.start(t)
	t.Cleanup(func() { n4.stop(t) })
	sawNonvoter := false
	eventually(t, "n4 promoted to voter", 30*time.Second, func() bool {
		servers, err := n1.status(t)
		if err != nil {
			return false
		}
		for _, s := range servers {
			if s.Name == "n4" && !s.Voter {
				sawNonvoter = true
			}
		}
		v, _, _ := census(servers)
		return v == 4
	})
	if !sawNonvoter {
		t.Error("n4 was never seen as a non-voter before its promotion")
	}
	// n4's API serves the cluster's data.
	if _, err := n4.clientset(t).CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("read through n4: %v", err)
	}

	// An alive server cannot be removed; an unknown one is not found.
	remove := func(through *member, name string) error {
		_, err := through.clientset(t).Discovery().RESTClient().Post().AbsPath(apiserver.RemovePath).Param("name", name).DoRaw(t.Context())
		return err
	}
	code := func(err error) int32 {
		if st, ok := err.(apierrors.APIStatus); ok {
			return st.Status().Code
		}
		return 0
	}
	if err := remove(n1, "n4"); code(err) != 409 {
		t.Errorf("remove of an alive server: %v, want 409", err)
	}
	if err := remove(n1, "nobody"); code(err) != 404 {
		t.Errorf("remove of an unknown server: %v, want 404", err)
	}
	n4.stop(t)
	// The cleanup time is an hour: only the removal takes it out.
	time.Sleep(3 * time.Second)
	if servers, err := n1.status(t); err != nil || len(servers) != 4 {
		t.Fatalf("a stopped server must stay in raft until removed: %+v %v", servers, err)
	}
	eventually(t, "remove n4", 10*time.Second, func() bool { return remove(n1, "n4") == nil })
	eventually(t, "n4 out of raft", 20*time.Second, func() bool {
		servers, err := n1.status(t)
		v, nv, _ := census(servers)
		return err == nil && v == 3 && nv == 0
	})

	// The leader (as it stands now) hands its leadership over when it stops.
	byName := map[string]*member{"n1": n1, "n2": n2, "n3": n3}
	logs := map[string]*syncBuffer{"n1": log1, "n2": log2, "n3": log3}
	eventually(t, "the current leader, as every member sees it", 10*time.Second, func() bool {
		servers, err := n1.status(t)
		if err != nil {
			return false
		}
		leaders := 0
		for _, s := range servers {
			if s.Term != servers[0].Term {
				return false // a member still in an older term may think it leads
			}
			if s.State == "Leader" {
				leaders++
				leader = s.Name
			}
		}
		return leaders == 1 && byName[leader] != nil
	})
	byName[leader].stop(t)
	if !strings.Contains(logs[leader].String(), "handed over the leadership") {
		t.Errorf("leader %s stopped without handing over its leadership", leader)
	}
	for name, m := range byName {
		if name == leader {
			continue
		}
		eventually(t, "write through "+name+" after the leader stopped", 20*time.Second, func() bool {
			_, err := m.clientset(t).CoreV1().ConfigMaps("default").Create(t.Context(),
				&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "after-"}}, metav1.CreateOptions{})
			return err == nil
		})
	}
}

// A server failed for longer than the cleanup time leaves raft; the two left keep writing.
func TestDeadServerCleanup(t *testing.T) {
	addrs := freeAddrs(t, 12)
	n1, _ := serfMember(t, addrs[0:4], "n1", 3, "", 2*time.Second)
	seed := n1.cfg.SerfAddr
	n2, _ := serfMember(t, addrs[4:8], "n2", 3, seed, 2*time.Second)
	n3, _ := serfMember(t, addrs[8:12], "n3", 3, seed, 2*time.Second)
	startAll(t, n1, n2, n3)
	eventually(t, "one cluster of three voters", 20*time.Second, func() bool {
		servers, err := n1.status(t)
		v, _, l := census(servers)
		return err == nil && v == 3 && l != ""
	})
	victim, keep := n3, n1
	if servers, _ := n1.status(t); func() bool { _, _, l := census(servers); return l == "n3" }() {
		victim, keep = n1, n2
	}
	victim.stop(t)
	eventually(t, "the dead server removed", 30*time.Second, func() bool {
		servers, err := keep.status(t)
		v, nv, _ := census(servers)
		return err == nil && v == 2 && nv == 0
	})
	for i := range 3 {
		if _, err := keep.clientset(t).CoreV1().ConfigMaps("default").Create(t.Context(),
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("after-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("write after the cleanup: %v", err)
		}
	}
}

// Raft is mutual TLS from the join token: a member started with another token gets nothing
// replicated, while the two with the right one form the cluster.
func TestRaftRefusesAMemberWithoutTheToken(t *testing.T) {
	addrs := freeAddrs(t, 9)
	peers := map[string]string{"n1": addrs[0], "n2": addrs[1], "n3": addrs[2]}
	var ms []*member
	for i, name := range []string{"n1", "n2", "n3"} {
		cfg := testConfig(t, name, addrs[i], addrs[3+i])
		cfg.APIAddr = addrs[6+i]
		cfg.Peers = peers
		cfg.JoinToken = "the-cluster-token"
		if name == "n3" {
			cfg.JoinToken = "another-token"
		}
		ms = append(ms, &member{cfg: cfg})
	}
	startAll(t, ms[0], ms[1]) // n3 never becomes ready: it has no store to serve
	stopN3 := startRun3(t, ms[2])
	defer stopN3()
	if _, err := ms[0].clientset(t).CoreV1().ConfigMaps("default").Create(t.Context(),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "written"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	servers, err := ms[0].status(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		switch s.Name {
		case "n3":
			if s.AppliedIndex != 0 {
				t.Errorf("n3, with another token, got %d entries applied", s.AppliedIndex)
			}
		default:
			if s.AppliedIndex == 0 {
				t.Errorf("%s has nothing applied", s.Name)
			}
		}
	}
}

// startRun3 runs a member that is not expected to become ready; the returned function stops it.
func startRun3(t *testing.T, m *member) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, m.cfg) }()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop", m.cfg.Name)
		}
	}
}

// The store's gRPC port is mutual TLS from the join token too: an etcd client without a peer
// certificate, or with one of another token, gets nothing; one with the token's works.
func TestStoreGRPCNeedsTheToken(t *testing.T) {
	addrs := freeAddrs(t, 3)
	cfg := testConfig(t, "solo", addrs[0], addrs[1])
	cfg.APIAddr = addrs[2]
	cfg.JoinToken = "the-cluster-token"
	m := &member{cfg: cfg}
	startAll(t, m)
	get := func(tlsCfg *tls.Config) error {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{cfg.ClientAddr}, TLS: tlsCfg, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return err
		}
		defer cli.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		_, err = cli.Get(ctx, "/registry/namespaces/default")
		return err
	}
	if err := get(nil); err == nil {
		t.Error("a plaintext etcd client was served")
	}
	_, stranger, _ := pki.PeerTLS("another-token", "x", time.Now())
	if err := get(stranger); err == nil {
		t.Error("an etcd client with another token's certificate was served")
	}
	_, member, err := pki.PeerTLS("the-cluster-token", "client", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := get(member); err != nil {
		t.Errorf("an etcd client with the token's certificate: %v", err)
	}
}
