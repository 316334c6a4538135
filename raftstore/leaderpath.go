package raftstore

import (
	"context"
	"errors"

	"github.com/hashicorp/raft"
)

// onLeader runs a request where it must run: local when this member is the
// leader, remote (with the leader's name) when another member is. Both
// report ErrNotLeader or ErrNoLeader when nothing happened, and the request
// is then tried again once a leader is known, until ctx ends. The leader's
// own path needs no deadline of its own (raft and the read loop answer
// everything they accept); forwarding and waiting get the default request
// timeout if ctx has none.
func (s *Store) onLeader(ctx context.Context, local func(context.Context) error, remote func(context.Context, raft.ServerID) error) error {
	cancel := context.CancelFunc(func() {})
	defer func() { cancel() }()
	bounded := false
	bound := func() {
		if !bounded {
			ctx, cancel = s.withTimeout(ctx)
			bounded = true
		}
	}
	for {
		var err error
		if s.raft.State() == raft.Leader {
			err = local(ctx)
		} else if leader := s.leaderToForward(); leader != "" {
			bound()
			err = remote(ctx, leader)
		} else {
			err = ErrNoLeader
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrNoLeader) {
			return err
		}
		bound()
		if err := s.waitForLeader(ctx); err != nil {
			return err
		}
	}
}

// leaderToForward names the leader if this member is a follower that can
// forward to it.
func (s *Store) leaderToForward() raft.ServerID {
	if s.cfg.Forwarder == nil || s.raft.State() == raft.Leader {
		return ""
	}
	_, leader := s.raft.LeaderWithID()
	if leader == raft.ServerID(s.cfg.Name) {
		return ""
	}
	return leader
}
