package raftstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// Group commit. Every command this member proposes as leader goes through
// one goroutine that packs whatever is waiting into a single raft entry (a
// cmdBatch of commands, each still its own request with its own revision).
// While raft is busy with the previous entry (its leader loop writes the log
// synchronously), requests queue up, so the batches grow with the load.
// hashicorp/raft and raft-boltdb spend their CPU per entry — encoding it for
// the log and for each follower, storing it, tracking its commitment — so
// fewer, larger entries buy throughput on a small machine.

const (
	maxBatchCommands = 512
	maxBatchBytes    = 4 << 20
)

// proposal is one command waiting for its result.
type proposal struct {
	cmd  []byte
	done chan proposalResult // buffered: the sender never blocks
}

type proposalResult struct {
	res *applyResult
	err error
}

// applyLocal replicates a command through this member's raft, which must
// be the leader, and returns its result.
func (s *Store) applyLocal(ctx context.Context, cmd []byte) (*applyResult, error) {
	p := &proposal{cmd: cmd, done: make(chan proposalResult, 1)}
	select {
	case s.proposeCh <- p:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: not proposed", ErrTimeout)
	case <-s.ctx.Done():
		return nil, ErrStopped
	}
	select {
	case r := <-p.done:
		return r.res, r.err
	case <-ctx.Done():
		// Proposed but not answered in time: the outcome is unknown.
		return nil, ErrTimeout
	case <-s.ctx.Done():
		return nil, ErrStopped
	}
}

// proposeLoop forms batches and hands them to raft one at a time.
func (s *Store) proposeLoop(ctx context.Context) {
	for {
		var first *proposal
		select {
		case <-ctx.Done():
			return
		case first = <-s.proposeCh:
		}
		batch := []*proposal{first}
		size := len(first.cmd)
	drain:
		for len(batch) < maxBatchCommands && size < maxBatchBytes {
			select {
			case p := <-s.proposeCh:
				batch = append(batch, p)
				size += len(p.cmd)
			default:
				break drain
			}
		}
		s.submit(batch, size)
	}
}

// submit appends one raft entry for the batch; a goroutine delivers the
// results when it is applied, so the next batch forms meanwhile.
func (s *Store) submit(batch []*proposal, size int) {
	data := batch[0].cmd
	if len(batch) > 1 {
		data = encodeBatch(batch, size)
	}
	f := s.raft.Apply(data, s.cfg.RequestTimeout)
	s.proposals.Add(uint64(len(batch)))
	s.raftEntries.Add(1)
	s.batches.Add(1)
	go func() {
		defer s.batches.Done()
		err := mapApplyError(s.waitFuture(f))
		var res *applyResult
		if err == nil {
			var ok bool
			if res, ok = f.Response().(*applyResult); !ok {
				err = fmt.Errorf("raftstore: apply: unexpected response %T", f.Response())
			}
		}
		if err == nil && len(batch) > 1 && len(res.batch) != len(batch) {
			err = fmt.Errorf("raftstore: apply: batch of %d gave %d results", len(batch), len(res.batch))
			if res.err != nil {
				err = res.err
			}
		}
		for i, p := range batch {
			switch {
			case err != nil:
				p.done <- proposalResult{err: err}
			case len(batch) == 1:
				p.done <- proposalResult{res: res}
			default:
				p.done <- proposalResult{res: &res.batch[i]}
			}
		}
	}()
}

// waitFuture waits for a raft future's outcome, or for raft to have shut
// down. hashicorp/raft never answers entries it had queued for the state
// machine when it stopped, nor a VerifyLeader caught in a step-down (those
// futures have no shutdown channel), so their waiters are released here
// with ErrRaftShutdown; the goroutine left blocked on such a future ends
// with the process.
func (s *Store) waitFuture(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-s.raftDown:
		select {
		case err := <-done:
			return err
		default:
			return raft.ErrRaftShutdown
		}
	}
}

// mapApplyError turns raft's errors into the store's.
func mapApplyError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		// Refused before it was appended: safe to try elsewhere.
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// The entry may or may not commit: the outcome is unknown.
		return ErrLeaderChanged
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrStopped
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrTimeout
	}
	return fmt.Errorf("raftstore: apply: %w", err)
}

// encodeBatch frames commands as one entry: the type byte, a count, then
// each command with its length.
func encodeBatch(batch []*proposal, size int) []byte {
	out := make([]byte, 0, 1+binary.MaxVarintLen64*(len(batch)+1)+size)
	out = append(out, byte(cmdBatch))
	out = binary.AppendUvarint(out, uint64(len(batch)))
	for _, p := range batch {
		out = binary.AppendUvarint(out, uint64(len(p.cmd)))
		out = append(out, p.cmd...)
	}
	return out
}

// decodeBatch is encodeBatch's inverse.
func decodeBatch(data []byte) ([][]byte, error) {
	if len(data) == 0 || commandType(data[0]) != cmdBatch {
		return nil, fmt.Errorf("%w: not a batch", ErrCorruptCommand)
	}
	rest := data[1:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: batch count", ErrCorruptCommand)
	}
	rest = rest[k:]
	out := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > uint64(len(rest)-k) {
			return nil, fmt.Errorf("%w: batch command %d length", ErrCorruptCommand, i)
		}
		out = append(out, rest[k:k+int(l)])
		rest = rest[k+int(l):]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after batch", ErrCorruptCommand, len(rest))
	}
	return out, nil
}
