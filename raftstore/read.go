package raftstore

import (
	"context"

	"github.com/hashicorp/raft"
)

// Linearizable reads follow raft's read-index protocol. The leader notes its
// commit index when a read arrives, confirms it is still leader (one
// heartbeat round, shared by every read queued meanwhile), and the reading
// member — the leader itself or a follower that asked it — waits until its
// state machine has applied that index. Waiting for the commit index, not
// just for acknowledged writes, matters: a follower may already show a
// committed write that the leader has not applied yet, and a later read must
// not go back in time. Every entry from a leader's barrier on reaches the
// state machine (see runLeader), so the applied index always gets there.

type readRequest struct {
	done chan readResult
}

type readResult struct {
	idx uint64
	err error
}

// readLoop confirms leadership for batches of reads: each batch captures the
// commit index, then runs one VerifyLeader for all of its reads.
func (s *Store) readLoop(ctx context.Context) {
	for {
		var first *readRequest
		select {
		case <-ctx.Done():
			return
		case first = <-s.readCh:
		}
		batch := []*readRequest{first}
	drain:
		for {
			select {
			case r := <-s.readCh:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		res := readResult{idx: s.raft.CommitIndex()}
		if !s.IsLeader() {
			res.err = ErrNotLeader
		} else if err := s.waitFuture(s.raft.VerifyLeader()); err != nil {
			res.err = ErrNotLeader
		}
		for _, r := range batch {
			r.done <- res
		}
	}
}

// LeaderReadIndex is the leader's side of Forwarder.ReadIndex: an index that
// covers every write acknowledged before the call, once leadership is
// confirmed.
func (s *Store) LeaderReadIndex(ctx context.Context) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	r := &readRequest{done: make(chan readResult, 1)}
	select {
	case s.readCh <- r:
	case <-ctx.Done():
		return 0, ErrTimeout
	case <-s.ctx.Done():
		return 0, ErrStopped
	}
	select {
	case res := <-r.done:
		return res.idx, res.err
	case <-ctx.Done():
		return 0, ErrTimeout
	case <-s.ctx.Done():
		return 0, ErrStopped
	}
}

// linearize returns once the local replica reflects every write acknowledged
// before the call.
func (s *Store) linearize(ctx context.Context) error {
	if plantedStaleReads && !s.IsLeader() { // a bug planted on purpose, in chaosbug builds only
		return nil
	}
	return s.onLeader(ctx, func(ctx context.Context) error {
		idx, err := s.LeaderReadIndex(ctx)
		if err != nil {
			return err
		}
		return s.waitApplied(ctx, idx)
	}, func(ctx context.Context, leader raft.ServerID) error {
		idx, err := s.cfg.Forwarder.ReadIndex(ctx, leader)
		if err != nil {
			return err
		}
		return s.waitApplied(ctx, idx)
	})
}
