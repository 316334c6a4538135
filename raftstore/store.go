package raftstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// Store is one member of a replicated store. All methods are safe for
// concurrent use.
type Store struct {
	cfg      Config
	log      *slog.Logger
	raft     *raft.Raft
	trans    *contactTransport
	fsm      *fsm
	closers  []io.Closer
	memberID uint64

	notifyCh    chan bool
	leaderReady atomic.Bool // leader and every earlier entry applied
	readCh      chan *readRequest
	proposeCh   chan *proposal
	proposals   atomic.Uint64  // commands appended as leader
	raftEntries atomic.Uint64  // raft entries they went into
	batches     sync.WaitGroup // waiters of raft entries in flight
	raftDown    chan struct{}  // closed once raft has shut down
	leases      *leaseKeeper
	leaderTasks leaderTasks
	failStop    *failStopLogs

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// MemberID derives etcd's numeric member ID from a member name.
func MemberID(name string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return h.Sum64() >> 1 // etcd clients print IDs as signed in places
}

// Open starts a member: it opens (or creates) its raft state, bootstraps a
// new cluster if asked and the state is empty, and starts raft.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg:       cfg,
		log:       cfg.Logger.With("member", cfg.Name),
		memberID:  MemberID(cfg.Name),
		notifyCh:  make(chan bool, 16),
		readCh:    make(chan *readRequest, 4096),
		proposeCh: make(chan *proposal, 4096),
		raftDown:  make(chan struct{}),
	}
	s.fsm = newFSM(cfg.QuotaBytes, cfg.MaxTxnOps, s.log)
	s.leases = newLeaseKeeper()
	logs, stable, snaps := cfg.LogStore, cfg.StableStore, cfg.SnapshotStore
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("raftstore: create data dir: %w", err)
		}
		if logs == nil || stable == nil {
			bolt, err := raftboltdb.New(raftboltdb.Options{
				Path:   filepath.Join(cfg.Dir, "raft.db"),
				NoSync: cfg.NoSync,
				// As etcd opens its bbolt: the freelist is rebuilt on open
				// instead of written at every commit (log truncation after
				// snapshots frees many pages) and kept as a hash map.
				BoltOptions: &bbolt.Options{
					Timeout:        time.Second,
					NoFreelistSync: true,
					FreelistType:   bbolt.FreelistMapType,
				},
			})
			if err != nil {
				return nil, fmt.Errorf("raftstore: open raft log %s: %w", cfg.Dir, err)
			}
			s.closers = append(s.closers, bolt)
			cached, err := raft.NewLogCache(8192, bolt)
			if err != nil {
				s.closeStores()
				return nil, fmt.Errorf("raftstore: log cache: %w", err)
			}
			logs, stable = cached, bolt
		}
		if snaps == nil {
			fs, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, newHclog(s.log.With("component", "snapshots")))
			if err != nil {
				s.closeStores()
				return nil, fmt.Errorf("raftstore: open snapshots %s: %w", cfg.Dir, err)
			}
			snaps = fs
		}
	}
	s.failStop = newFailStopLogs(logs)
	logs = s.failStop
	rc := cfg.raftConfig()
	rc.NotifyCh = s.notifyCh
	if len(cfg.Bootstrap) > 0 {
		has, err := raft.HasExistingState(logs, stable, snaps)
		if err != nil {
			s.closeStores()
			return nil, fmt.Errorf("raftstore: inspect raft state: %w", err)
		}
		if !has {
			conf := raft.Configuration{Servers: cfg.Bootstrap}
			if err := raft.BootstrapCluster(rc, logs, stable, snaps, cfg.Transport, conf); err != nil {
				s.closeStores()
				return nil, fmt.Errorf("raftstore: bootstrap: %w", err)
			}
		}
	}
	if _, ok := cfg.Transport.(raft.WithPreVote); !ok {
		// The wrapper below always offers pre-vote; keep raft from using
		// it when the real transport cannot.
		rc.PreVoteDisabled = true
	}
	s.trans = newContactTransport(cfg.Transport)
	r, err := raft.NewRaft(rc, s.fsm, logs, stable, snaps, s.trans)
	if err != nil {
		s.closeStores()
		return nil, fmt.Errorf("raftstore: start raft: %w", err)
	}
	s.raft = r
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.goFunc(s.leaderLoop)
	s.goFunc(s.readLoop)
	s.goFunc(s.proposeLoop)
	s.goFunc(s.registerMember)
	return s, nil
}

func (s *Store) goFunc(fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
}

func (s *Store) closeStores() {
	for _, c := range s.closers {
		_ = c.Close()
	}
}

// Close stops the member. It does not hand over leadership (see
// TransferLeadership) and does not remove it from the cluster.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		s.cancel()
		err = s.raft.Shutdown().Error()
		close(s.raftDown)
		s.wg.Wait()
		s.batches.Wait()
		s.closeStores()
	})
	return err
}

// Name is the member's name.
func (s *Store) Name() string { return s.cfg.Name }

// ID is the member's etcd member ID.
func (s *Store) ID() uint64 { return s.memberID }

// Raft exposes the underlying raft node for membership tooling and tests.
func (s *Store) Raft() *raft.Raft { return s.raft }

// IsLeader reports whether this member is the leader and ready to serve.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader && s.leaderReady.Load() }

// header builds a response header at a revision.
func (s *Store) header(rev int64) *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: s.cfg.ClusterID, MemberId: s.memberID, Revision: rev, RaftTerm: s.raft.CurrentTerm()}
}

// withTimeout applies the default request timeout to a context without one.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// propose replicates a request through raft (forwarding it to the leader if
// needed) and returns the leader's apply result.
func (s *Store) propose(ctx context.Context, t commandType, req proto.Message) (proto.Message, error) {
	cmd, err := encodeCommand(t, req)
	if err != nil {
		return nil, err
	}
	if len(cmd) > s.cfg.MaxRequestBytes {
		return nil, fmt.Errorf("%w: %d bytes over the %d-byte limit", ErrRequestTooLarge, len(cmd), s.cfg.MaxRequestBytes)
	}
	var resp proto.Message
	err = s.onLeader(ctx, func(ctx context.Context) error {
		res, err := s.applyLocal(ctx, cmd)
		if err != nil {
			return err
		}
		resp, err = res.resp, res.err
		return err
	}, func(ctx context.Context, leader raft.ServerID) error {
		data, err := s.cfg.Forwarder.Propose(ctx, leader, cmd)
		if err != nil {
			return err
		}
		resp, err = decodeResult(t, data)
		return err
	})
	return resp, err
}

// waitForLeader sleeps briefly, failing once ctx is done.
func (s *Store) waitForLeader(ctx context.Context) error {
	t := time.NewTimer(10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-s.ctx.Done():
		return ErrStopped
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: no leader", ErrTimeout)
		}
		return ctx.Err()
	}
}

// LeaderPropose is the leader's side of Forwarder.Propose.
func (s *Store) LeaderPropose(ctx context.Context, cmd []byte) ([]byte, error) {
	if s.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	if len(cmd) > s.cfg.MaxRequestBytes {
		return nil, ErrRequestTooLarge
	}
	// Append only what a member's propose would: one known command, never
	// a batch (those are the leader's own framing).
	if _, _, err := decodeCommand(cmd); err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	res, err := s.applyLocal(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return encodeResult(*res)
}

// waitApplied blocks until this member has applied index idx.
func (s *Store) waitApplied(ctx context.Context, idx uint64) error {
	for {
		ch := s.fsm.changed()
		if s.fsm.applied.Load() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-s.ctx.Done():
			return ErrStopped
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for index %d (applied %d)", ErrTimeout, idx, s.fsm.applied.Load())
		}
	}
}

// AppliedIndex is the raft index of the last entry applied to the state.
func (s *Store) AppliedIndex() uint64 { return s.fsm.applied.Load() }

// Rev is the current revision of the local replica.
func (s *Store) Rev() int64 {
	var rev int64
	s.fsm.read(func(kv *mvccStore) { rev = kv.Rev() })
	return rev
}

// Digest is a hash of the local replica's key space (see mvcc.Frozen.Hash)
// with the applied index, revision and compaction revision it was taken at,
// all read at one instant: replicas at the same applied index must have
// equal hashes.
type Digest struct {
	Hash                      uint64
	Applied                   uint64
	Revision, CompactRevision int64
}

// Digest hashes the local replica's state.
func (s *Store) Digest() Digest {
	s.fsm.mu.RLock()
	frozen := s.fsm.kv.Freeze()
	d := Digest{Applied: s.fsm.applied.Load(), Revision: frozen.Rev(), CompactRevision: s.fsm.kv.CompactRev()}
	s.fsm.mu.RUnlock()
	d.Hash = frozen.Hash()
	return d
}
