package raftstore

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/skiff-sh/skiff/raftstore/mvcc"
)

// fsm is the replicated state machine: the MVCC key space plus the member
// table. Raft is its only writer (ApplyBatch, Restore); reads take the read
// lock. Every batch applied wakes watchers and applied-index waiters.
type fsm struct {
	mu        sync.RWMutex
	kv        *mvcc.Store
	members   map[string]*pb.Member // by name (raft server ID)
	quota     int64
	maxTxnOps int
	log       *slog.Logger

	applied atomic.Uint64 // last raft index applied

	changedMu sync.Mutex
	changedCh chan struct{} // closed and replaced after every applied batch
}

func newFSM(quota int64, maxTxnOps int, log *slog.Logger) *fsm {
	f := &fsm{kv: mvcc.New(quota), members: map[string]*pb.Member{}, quota: quota, maxTxnOps: maxTxnOps, log: log, changedCh: make(chan struct{})}
	f.kv.SetMaxTxnOps(maxTxnOps)
	return f
}

// changed returns a channel closed at the next applied batch.
func (f *fsm) changed() <-chan struct{} {
	f.changedMu.Lock()
	defer f.changedMu.Unlock()
	return f.changedCh
}

func (f *fsm) broadcast() {
	f.changedMu.Lock()
	close(f.changedCh)
	f.changedCh = make(chan struct{})
	f.changedMu.Unlock()
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM: one lock and one wake-up per batch.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		res := f.applyCommand(l.Data)
		out[i] = &res
	}
	if n := len(logs); n > 0 {
		f.applied.Store(logs[n-1].Index)
	}
	f.mu.Unlock()
	f.broadcast()
	return out
}

func (f *fsm) applyCommand(data []byte) applyResult {
	if len(data) > 0 && commandType(data[0]) == cmdBatch {
		cmds, err := decodeBatch(data)
		if err != nil {
			f.log.Error("raftstore: rejected log entry", "type", cmdBatch, "err", err)
			return applyResult{err: err}
		}
		out := applyResult{batch: make([]applyResult, len(cmds))}
		for i, c := range cmds {
			if len(c) > 0 && commandType(c[0]) == cmdBatch {
				out.batch[i] = applyResult{err: fmt.Errorf("%w: nested batch", ErrCorruptCommand)}
				continue
			}
			out.batch[i] = f.applyCommand(c)
		}
		return out
	}
	t, req, err := decodeCommand(data)
	if err != nil {
		f.log.Error("raftstore: rejected log entry", "type", t, "err", err)
		return applyResult{err: err}
	}
	switch r := req.(type) {
	case *pb.PutRequest:
		resp, err := f.kv.Put(r)
		if err != nil {
			return applyResult{err: err}
		}
		return applyResult{resp: resp}
	case *pb.DeleteRangeRequest:
		resp, err := f.kv.DeleteRange(r)
		if err != nil {
			return applyResult{err: err}
		}
		return applyResult{resp: resp}
	case *pb.TxnRequest:
		resp, err := f.kv.Txn(r)
		if err != nil {
			return applyResult{err: err}
		}
		return applyResult{resp: resp}
	case *pb.CompactionRequest:
		if err := f.kv.Compact(r.Revision); err != nil {
			return applyResult{err: err}
		}
		return applyResult{resp: &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: f.kv.Rev()}}}
	case *pb.LeaseGrantRequest:
		if err := f.kv.LeaseGrant(r.ID, r.TTL); err != nil {
			return applyResult{err: err}
		}
		return applyResult{resp: &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{Revision: f.kv.Rev()}, ID: r.ID, TTL: r.TTL}}
	case *pb.LeaseRevokeRequest:
		rev, err := f.kv.LeaseRevoke(r.ID)
		if err != nil {
			return applyResult{err: err}
		}
		return applyResult{resp: &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: rev}}}
	case *emptypb.Empty:
		return applyResult{resp: &emptypb.Empty{}}
	case *pb.Member:
		f.members[r.Name] = r
		return applyResult{resp: &pb.MemberUpdateResponse{Header: &pb.ResponseHeader{Revision: f.kv.Rev()}}}
	}
	return applyResult{err: fmt.Errorf("%w: %s", ErrUnknownCommand, t)}
}

// member returns the recorded URLs of a member.
func (f *fsm) member(name string) (*pb.Member, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m, ok := f.members[name]
	return m, ok
}

// fsmSnapshotMagic starts an FSM snapshot; the last byte is the format version.
const fsmSnapshotMagic = "skiff-fsm\x01"

type fsmSnapshot struct {
	applied uint64
	kv      *mvcc.Frozen
	members []byte
}

// Snapshot implements raft.FSM. It only captures state (copy-on-write), so
// Apply is blocked for microseconds; Persist does the work concurrently.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	names := make([]string, 0, len(f.members))
	for n := range f.members {
		names = append(names, n)
	}
	sort.Strings(names)
	list := &pb.MemberListResponse{}
	for _, n := range names {
		list.Members = append(list.Members, f.members[n])
	}
	members, err := proto.MarshalOptions{Deterministic: true}.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("raftstore: snapshot members: %w", err)
	}
	return &fsmSnapshot{applied: f.applied.Load(), kv: f.kv.Freeze(), members: members}, nil
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 64<<10)
	var hdr []byte
	hdr = append(hdr, fsmSnapshotMagic...)
	hdr = binary.AppendUvarint(hdr, s.applied)
	hdr = binary.AppendUvarint(hdr, uint64(len(s.members)))
	hdr = append(hdr, s.members...)
	if _, err := w.Write(hdr); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftstore: persist snapshot: %w", err)
	}
	if _, err := s.kv.WriteTo(w); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftstore: persist snapshot: %w", err)
	}
	if err := w.Flush(); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftstore: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// Restore implements raft.FSM: it replaces the whole state.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	applied, kv, members, err := decodeFSMSnapshot(rc, f.quota)
	if err != nil {
		return err
	}
	kv.SetMaxTxnOps(f.maxTxnOps)
	f.mu.Lock()
	f.kv = kv
	f.members = members
	f.applied.Store(applied)
	f.mu.Unlock()
	f.broadcast()
	return nil
}

func decodeFSMSnapshot(r io.Reader, quota int64) (uint64, *mvcc.Store, map[string]*pb.Member, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic := make([]byte, len(fsmSnapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != fsmSnapshotMagic {
		return 0, nil, nil, fmt.Errorf("raftstore: restore snapshot: bad header %q: %v", magic, err)
	}
	applied, err := binary.ReadUvarint(br)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("raftstore: restore snapshot: applied index: %w", err)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n > 16<<20 {
		return 0, nil, nil, fmt.Errorf("raftstore: restore snapshot: member table length %d: %v", n, err)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		return 0, nil, nil, fmt.Errorf("raftstore: restore snapshot: member table: %w", err)
	}
	list := &pb.MemberListResponse{}
	if err := proto.Unmarshal(buf, list); err != nil {
		return 0, nil, nil, fmt.Errorf("raftstore: restore snapshot: member table: %w", err)
	}
	members := map[string]*pb.Member{}
	for _, m := range list.Members {
		members[m.Name] = m
	}
	kv, err := mvcc.Decode(br, quota)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("raftstore: restore snapshot: %w", err)
	}
	return applied, kv, members, nil
}

// read runs fn under the read lock.
func (f *fsm) read(fn func(kv *mvcc.Store)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.kv)
}

// eventsFrom reads the watch feed (see mvcc.Store.EventsFrom) along with the
// current and compacted revisions.
func (f *fsm) eventsFrom(rev int64, max int) (evs []*mvccpb.Event, next, cur, compacted int64, err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	evs, next, err = f.kv.EventsFrom(rev, max)
	return evs, next, f.kv.Rev(), f.kv.CompactRev(), err
}

// mvccStore names the key space type for readers in this package.
type mvccStore = mvcc.Store
