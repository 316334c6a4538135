package raftstore

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// InmemNetwork connects the Forwarders of in-process members, the way
// raft.InmemTransport connects their raft RPCs. Links can be cut to make
// partitions. It is for tests.
type InmemNetwork struct {
	mu     sync.RWMutex
	stores map[raft.ServerID]*Store
	cut    map[[2]raft.ServerID]bool
}

// NewInmemNetwork returns an empty network.
func NewInmemNetwork() *InmemNetwork {
	return &InmemNetwork{stores: map[raft.ServerID]*Store{}, cut: map[[2]raft.ServerID]bool{}}
}

// Register makes a member reachable by name.
func (n *InmemNetwork) Register(s *Store) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stores[raft.ServerID(s.Name())] = s
}

// Unregister removes a member (it stopped).
func (n *InmemNetwork) Unregister(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.stores, raft.ServerID(name))
}

// SetLink cuts (up=false) or restores the link between two members, both ways.
func (n *InmemNetwork) SetLink(a, b string, up bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, k := range [][2]raft.ServerID{{raft.ServerID(a), raft.ServerID(b)}, {raft.ServerID(b), raft.ServerID(a)}} {
		if up {
			delete(n.cut, k)
		} else {
			n.cut[k] = true
		}
	}
}

// Forwarder returns the Forwarder for the member named from.
func (n *InmemNetwork) Forwarder(from string) Forwarder {
	return &inmemForwarder{n: n, from: raft.ServerID(from)}
}

func (n *InmemNetwork) reach(from, to raft.ServerID) (*Store, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	s, ok := n.stores[to]
	if !ok || n.cut[[2]raft.ServerID{from, to}] {
		// Nothing was delivered: the caller may try again.
		return nil, ErrNoLeader
	}
	return s, nil
}

type inmemForwarder struct {
	n    *InmemNetwork
	from raft.ServerID
}

func (f *inmemForwarder) Propose(ctx context.Context, leader raft.ServerID, cmd []byte) ([]byte, error) {
	s, err := f.n.reach(f.from, leader)
	if err != nil {
		return nil, err
	}
	out, err := s.LeaderPropose(ctx, cmd)
	if err == nil {
		if _, err := f.n.reach(leader, f.from); err != nil {
			// The answer was lost on the way back: the outcome is unknown.
			return nil, ErrTimeout
		}
	}
	return out, err
}

func (f *inmemForwarder) ReadIndex(ctx context.Context, leader raft.ServerID) (uint64, error) {
	s, err := f.n.reach(f.from, leader)
	if err != nil {
		return 0, err
	}
	return s.LeaderReadIndex(ctx)
}

func (f *inmemForwarder) LeaseKeepAlive(ctx context.Context, leader raft.ServerID, id int64) (int64, error) {
	s, err := f.n.reach(f.from, leader)
	if err != nil {
		return 0, err
	}
	return s.LeaderLeaseKeepAlive(ctx, id)
}

func (f *inmemForwarder) LeaseTimeToLive(ctx context.Context, leader raft.ServerID, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	s, err := f.n.reach(f.from, leader)
	if err != nil {
		return nil, err
	}
	return s.LeaderLeaseTimeToLive(ctx, req)
}
