package raftstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// leaderLoop starts the leader-only work when this member wins an election
// and stops it when it loses, as nomad's leader.go does with NotifyCh.
func (s *Store) leaderLoop(ctx context.Context) {
	type run struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	var cur *run
	stopLeader := func() {
		s.leaderReady.Store(false)
		if cur != nil {
			cur.cancel()
			<-cur.done
			cur = nil
		}
	}
	defer stopLeader()
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-s.notifyCh:
			if !isLeader {
				stopLeader()
				continue
			}
			if cur != nil {
				continue
			}
			lctx, cancel := context.WithCancel(ctx)
			cur = &run{cancel: cancel, done: make(chan struct{})}
			go func(done chan struct{}) {
				defer close(done)
				s.runLeader(lctx)
			}(cur.done)
		}
	}
}

// runLeader commits and applies a barrier command, so that every entry of
// earlier terms is in the state before this member serves reads or judges
// leases, then expires leases until leadership ends.
//
// The barrier is a command of ours rather than raft.Barrier because the
// read-index protocol (read.go) waits for the state machine to reach a commit
// index, and only commands and configuration entries reach it: raft's own
// no-op and barrier entries do not. After this command, every entry of the
// term does.
func (s *Store) runLeader(ctx context.Context) {
	cmd, err := encodeCommand(cmdBarrier, &emptypb.Empty{})
	if err != nil {
		s.log.Error("raftstore: encode barrier", "err", err)
		return
	}
	for {
		bctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		_, err := s.applyLocal(bctx, cmd)
		cancel()
		if err == nil {
			break
		}
		s.log.Warn("raftstore: leader barrier failed", "err", err)
		if s.raft.State() != raft.Leader {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	if ctx.Err() != nil {
		return
	}
	s.leases.reset()
	s.leaderReady.Store(true)
	s.log.Info("raftstore: leader ready", "term", s.raft.CurrentTerm())
	s.leaderTasks.lead(ctx)
	defer s.leaderTasks.stepDown()
	s.expireLeases(ctx)
}

// registerMember keeps this member's name and URLs in the replicated member
// table, which followers use to reach the leader and MemberList reports.
func (s *Store) registerMember(ctx context.Context) {
	want := &pb.Member{ID: s.memberID, Name: s.cfg.Name, PeerURLs: []string{string(s.cfg.Transport.LocalAddr())}}
	if s.cfg.ClientURL != "" {
		want.ClientURLs = []string{s.cfg.ClientURL}
	}
	for {
		wait := 5 * time.Second
		if m, ok := s.fsm.member(s.cfg.Name); !ok || m.ID != want.ID || !slices.Equal(m.PeerURLs, want.PeerURLs) || !slices.Equal(m.ClientURLs, want.ClientURLs) {
			pctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
			if _, err := s.propose(pctx, cmdSetMember, want); err != nil && ctx.Err() == nil {
				s.log.Debug("raftstore: register member", "err", err)
			}
			cancel()
			wait = 200 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// leaderTasks runs the work registered with OnLeader while this member is
// the ready leader.
type leaderTasks struct {
	mu    sync.Mutex
	tasks []func(context.Context)
	ctx   context.Context // the current leadership; nil when not leader
	wg    sync.WaitGroup
}

func (l *leaderTasks) lead(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ctx = ctx
	for _, fn := range l.tasks {
		l.start(fn)
	}
}

func (l *leaderTasks) start(fn func(context.Context)) {
	ctx := l.ctx
	l.wg.Go(func() { fn(ctx) })
}

// stepDown waits for the tasks, whose context has ended, to return.
func (l *leaderTasks) stepDown() {
	l.mu.Lock()
	l.ctx = nil
	l.mu.Unlock()
	l.wg.Wait()
}

// OnLeader runs fn in its own goroutine each time this member becomes the
// leader and has applied every earlier entry, and now if it already is. fn's
// context ends when leadership is lost or the store closes, and the member
// does not take another leadership before fn returns: leader-only work
// (controllers, the scheduler, the garbage collector) never runs twice on
// one member.
func (s *Store) OnLeader(fn func(ctx context.Context)) {
	s.leaderTasks.mu.Lock()
	defer s.leaderTasks.mu.Unlock()
	s.leaderTasks.tasks = append(s.leaderTasks.tasks, fn)
	if s.leaderTasks.ctx != nil {
		s.leaderTasks.start(fn)
	}
}
