// Package storetest runs raftstore clusters in process, on raft's in-memory
// transport and stores, with partitions, kills and restarts: the fast tier of
// the store's tests, needing neither root nor the network.
package storetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/skiff-sh/skiff/raftstore"
)

// Node is one member: its durable state survives Kill and Restart.
type Node struct {
	Name  string
	Addr  raft.ServerAddress
	logs  *raft.InmemStore
	snaps *raft.InmemSnapshotStore
	trans *raft.InmemTransport
	store atomic.Pointer[raftstore.Store]
}

// Store returns the running member, or nil while it is killed.
func (n *Node) Store() *raftstore.Store { return n.store.Load() }

// Cluster is a set of in-process members.
type Cluster struct {
	t     testing.TB
	Net   *raftstore.InmemNetwork
	Nodes []*Node
	conf  func(*raftstore.Config)
	mu    sync.Mutex
	cut   map[[2]int]bool
}

// TestConfig is DefaultConfig with timings for in-memory transports.
func TestConfig() raftstore.Config {
	c := raftstore.DefaultConfig()
	c.HeartbeatTimeout = 200 * time.Millisecond
	c.ElectionTimeout = 200 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 2 * time.Millisecond
	c.RequestTimeout = 2 * time.Second
	c.LeaseCheckInterval = 50 * time.Millisecond
	c.MinLeaseTTL = 1
	c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return c
}

// New starts an n-member cluster and waits for a leader. conf may adjust
// each member's config. Everything stops at test cleanup.
func New(t testing.TB, n int, conf func(*raftstore.Config)) *Cluster {
	t.Helper()
	CheckGoroutines(t)
	c := &Cluster{t: t, Net: raftstore.NewInmemNetwork(), conf: conf, cut: map[[2]int]bool{}}
	var servers []raft.Server
	for i := range n {
		nd := &Node{Name: fmt.Sprintf("n%d", i+1), logs: raft.NewInmemStore(), snaps: raft.NewInmemSnapshotStore()}
		nd.Addr, nd.trans = raft.NewInmemTransport("")
		c.Nodes = append(c.Nodes, nd)
		servers = append(servers, raft.Server{ID: raft.ServerID(nd.Name), Address: nd.Addr, Suffrage: raft.Voter})
	}
	c.connectAll()
	for i := range c.Nodes {
		c.start(i, servers)
	}
	t.Cleanup(c.Close)
	c.Leader()
	return c
}

func (c *Cluster) start(i int, bootstrap []raft.Server) {
	c.t.Helper()
	nd := c.Nodes[i]
	cfg := TestConfig()
	cfg.Name = nd.Name
	cfg.Transport = nd.trans
	cfg.LogStore, cfg.StableStore, cfg.SnapshotStore = nd.logs, nd.logs, nd.snaps
	cfg.Bootstrap = bootstrap
	cfg.ClientURL = "inmem://" + nd.Name
	cfg.Forwarder = c.Net.Forwarder(nd.Name)
	if c.conf != nil {
		c.conf(&cfg)
	}
	s, err := raftstore.Open(context.Background(), cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", nd.Name, err)
	}
	nd.store.Store(s)
	c.Net.Register(s)
}

func (c *Cluster) connectAll() {
	for i, a := range c.Nodes {
		for j, b := range c.Nodes {
			if i != j && !c.cut[[2]int{i, j}] {
				a.trans.Connect(b.Addr, b.trans)
			}
		}
	}
}

// AddNode starts a new member with empty state and no bootstrap
// configuration: it waits for a leader to add it (Store.AddVoter or
// AddNonvoter). It returns the member's index.
func (c *Cluster) AddNode() int {
	c.t.Helper()
	nd := &Node{Name: fmt.Sprintf("n%d", len(c.Nodes)+1), logs: raft.NewInmemStore(), snaps: raft.NewInmemSnapshotStore()}
	nd.Addr, nd.trans = raft.NewInmemTransport("")
	c.mu.Lock()
	c.Nodes = append(c.Nodes, nd)
	c.connectAll()
	c.mu.Unlock()
	i := len(c.Nodes) - 1
	c.start(i, nil)
	return i
}

// Close stops every running member.
func (c *Cluster) Close() {
	for i := range c.Nodes {
		if c.Nodes[i].Store() != nil {
			c.Kill(i)
		}
	}
}

// Kill stops member i; its log and snapshots are kept for Restart.
func (c *Cluster) Kill(i int) {
	nd := c.Nodes[i]
	s := nd.store.Swap(nil)
	if s == nil {
		return
	}
	c.Net.Unregister(nd.Name)
	_ = s.Close()
	for _, o := range c.Nodes {
		o.trans.Disconnect(nd.Addr)
	}
	nd.trans.DisconnectAll()
}

// Restart starts a killed member again from its kept state.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	nd := c.Nodes[i]
	if nd.Store() != nil {
		return
	}
	_, nd.trans = raft.NewInmemTransport(nd.Addr)
	c.mu.Lock()
	c.connectAll()
	c.mu.Unlock()
	c.start(i, nil)
	c.applyCuts()
}

// Partition splits the members into groups that cannot talk to each other.
// Members not named in any group are isolated.
func (c *Cluster) Partition(groups ...[]int) {
	group := map[int]int{}
	for gi, g := range groups {
		for _, i := range g {
			group[i] = gi + 1
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = map[[2]int]bool{}
	for i := range c.Nodes {
		for j := range c.Nodes {
			if i != j && (group[i] == 0 || group[i] != group[j]) {
				c.cut[[2]int{i, j}] = true
			}
		}
	}
	c.applyCutsLocked()
}

// Isolate cuts member i off from every other member.
func (c *Cluster) Isolate(i int) {
	var rest []int
	for j := range c.Nodes {
		if j != i {
			rest = append(rest, j)
		}
	}
	c.Partition(rest, []int{i})
}

// Heal restores every link.
func (c *Cluster) Heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = map[[2]int]bool{}
	c.applyCutsLocked()
}

func (c *Cluster) applyCuts() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applyCutsLocked()
}

func (c *Cluster) applyCutsLocked() {
	for i, a := range c.Nodes {
		for j, b := range c.Nodes {
			if i == j {
				continue
			}
			if c.cut[[2]int{i, j}] {
				a.trans.Disconnect(b.Addr)
			} else if a.Store() != nil && b.Store() != nil {
				a.trans.Connect(b.Addr, b.trans)
			}
			c.Net.SetLink(a.Name, b.Name, !c.cut[[2]int{i, j}])
		}
	}
}

// Leader waits for a member that is leader and ready, and returns its index.
func (c *Cluster) Leader() int {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, nd := range c.Nodes {
			if s := nd.Store(); s != nil && s.IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no leader within 10s")
	return -1
}

// Running returns the indexes of running members.
func (c *Cluster) Running() []int {
	var out []int
	for i, nd := range c.Nodes {
		if nd.Store() != nil {
			out = append(out, i)
		}
	}
	return out
}

// WaitConverged waits until every running member has applied the same index
// and returns their state hashes, failing the test if they differ.
func (c *Cluster) WaitConverged(timeout time.Duration) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var hashes []uint64
		var applied []uint64
		for _, i := range c.Running() {
			s := c.Nodes[i].Store()
			if s == nil {
				continue
			}
			d := s.Digest()
			h, a := d.Hash, d.Applied
			hashes = append(hashes, h)
			applied = append(applied, a)
		}
		same := true
		for k := range applied {
			if applied[k] != applied[0] {
				same = false
			}
		}
		if same && len(applied) > 0 {
			for k := range hashes {
				if hashes[k] != hashes[0] {
					c.t.Fatalf("replicas at applied index %d have different state hashes: %x", applied[0], hashes)
				}
			}
			return hashes[0]
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("replicas did not converge within %s: applied %v", timeout, applied)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
