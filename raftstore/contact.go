package raftstore

import (
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// contactTransport wraps a raft transport to remember when each peer last
// answered an AppendEntries (heartbeats included, every HeartbeatTimeout/10):
// the leader's "last contact per peer", which hashicorp/raft keeps private.
// It passes through pre-vote and Close, which raft finds by type assertion.
type contactTransport struct {
	raft.Transport
	mu   sync.Mutex
	last map[raft.ServerID]time.Time
}

func newContactTransport(t raft.Transport) *contactTransport {
	return &contactTransport{Transport: t, last: map[raft.ServerID]time.Time{}}
}

func (c *contactTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := c.Transport.AppendEntries(id, target, args, resp)
	if err == nil {
		c.mu.Lock()
		c.last[id] = time.Now()
		c.mu.Unlock()
	}
	return err
}

// RequestPreVote implements raft.WithPreVote when the wrapped transport does;
// raft only calls it if it does (see preVoteSupported).
func (c *contactTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	pv, ok := c.Transport.(raft.WithPreVote)
	if !ok {
		return errors.New("raftstore: transport does not support pre-vote")
	}
	return pv.RequestPreVote(id, target, args, resp)
}

// Close implements raft.WithClose.
func (c *contactTransport) Close() error {
	if wc, ok := c.Transport.(raft.WithClose); ok {
		return wc.Close()
	}
	return nil
}

// lastContact returns when a peer last answered, if ever.
func (c *contactTransport) lastContact(id raft.ServerID) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.last[id]
	return t, ok
}
