package raftstore

import (
	"bytes"
	"context"
	"errors"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// WatchRequest selects the events a watcher receives.
type WatchRequest struct {
	// Key and RangeEnd select keys as in Range: RangeEnd empty for one key,
	// "\x00" for every key >= Key.
	Key, RangeEnd []byte
	// StartRevision is the first revision to deliver; 0 means the next one.
	// A revision past the current one is waited for.
	StartRevision int64
	// PrevKV attaches each event's previous version.
	PrevKV bool
	// NoPut and NoDelete filter events out.
	NoPut, NoDelete bool
	// ProgressNotify asks for a progress notification every
	// ProgressInterval while there are no events.
	ProgressNotify   bool
	ProgressInterval time.Duration
	// MaxRevisionsPerResponse bounds one response (0: 256 revisions).
	MaxRevisionsPerResponse int
}

// WatchResponse carries events in revision order, or a progress
// notification (no events; Header.Revision says everything up to it was
// delivered), or the end of the watch (Canceled, with CompactRevision set if
// the start revision was compacted).
type WatchResponse struct {
	Header          *pb.ResponseHeader
	Events          []*mvccpb.Event
	CompactRevision int64
	Canceled        bool
	Err             error
}

// Watcher delivers a watch's responses on C, which is closed when the watch
// ends (Close, the store closing, or cancellation after compaction).
type Watcher struct {
	C        <-chan WatchResponse
	progress chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
}

// RequestProgress asks for a progress notification as soon as the watcher
// has delivered everything up to the current revision.
func (w *Watcher) RequestProgress() {
	select {
	case w.progress <- struct{}{}:
	default:
	}
}

// Close ends the watch and waits for its goroutine to stop.
func (w *Watcher) Close() {
	w.cancel()
	<-w.done
}

// Watch streams the changes to a key or range from the local replica. Events
// come ordered by revision, each exactly once, with no gaps; a watch from a
// compacted revision gets one canceled response with ErrCompacted. Slow
// consumers are never dropped: a watcher reads the replica's history at its
// own pace.
func (s *Store) Watch(ctx context.Context, req WatchRequest) (*Watcher, error) {
	if len(req.Key) == 0 {
		return nil, ErrEmptyKey
	}
	if len(req.RangeEnd) > 0 && !(len(req.RangeEnd) == 1 && req.RangeEnd[0] == 0) && bytes.Compare(req.Key, req.RangeEnd) >= 0 {
		return nil, errors.New("raftstore: watch range is empty: key must sort before range end")
	}
	next := req.StartRevision
	if next <= 0 {
		s.fsm.read(func(kv *mvccStore) { next = kv.Rev() + 1 })
	}
	if req.MaxRevisionsPerResponse <= 0 {
		req.MaxRevisionsPerResponse = 256
	}
	if req.ProgressInterval <= 0 {
		req.ProgressInterval = 10 * time.Minute
	}
	wctx, cancel := context.WithCancel(ctx)
	ch := make(chan WatchResponse, 16)
	w := &Watcher{C: ch, progress: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer close(ch)
		defer cancel()
		s.runWatch(wctx, req, next, ch, w.progress)
	}()
	return w, nil
}

func (s *Store) runWatch(ctx context.Context, req WatchRequest, next int64, out chan<- WatchResponse, progress <-chan struct{}) {
	send := func(r WatchResponse) bool {
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			return false
		case <-s.ctx.Done():
			return false
		}
	}
	var ticker <-chan time.Time
	if req.ProgressNotify {
		t := time.NewTicker(req.ProgressInterval)
		defer t.Stop()
		ticker = t.C
	}
	wantProgress := false
	sentSinceTick := false
	for {
		changed := s.fsm.changed()
		evs, nextRev, cur, compacted, err := s.fsm.eventsFrom(next, req.MaxRevisionsPerResponse)
		if errors.Is(err, ErrCompacted) {
			send(WatchResponse{Header: s.header(cur), CompactRevision: compacted, Canceled: true, Err: err})
			return
		}
		next = nextRev
		if evs = filterEvents(evs, req); len(evs) > 0 {
			if !send(WatchResponse{Header: s.header(cur), Events: evs}) {
				return
			}
			sentSinceTick = true
		}
		caughtUp := next > cur
		if !caughtUp {
			continue // more history to deliver before waiting
		}
		if wantProgress {
			wantProgress = false
			if !send(WatchResponse{Header: s.header(min(next-1, cur))}) {
				return
			}
		}
		select {
		case <-changed:
		case <-progress:
			wantProgress = true
		case <-ticker:
			if !sentSinceTick {
				wantProgress = true
			}
			sentSinceTick = false
		case <-ctx.Done():
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// filterEvents keeps the events in the watched range, applying the
// watcher's filters; PrevKv is stripped unless asked for.
func filterEvents(evs []*mvccpb.Event, req WatchRequest) []*mvccpb.Event {
	var out []*mvccpb.Event
	for _, ev := range evs {
		if !inRange(ev.Kv.Key, req.Key, req.RangeEnd) {
			continue
		}
		if (ev.Type == mvccpb.PUT && req.NoPut) || (ev.Type == mvccpb.DELETE && req.NoDelete) {
			continue
		}
		if !req.PrevKV && ev.PrevKv != nil {
			ev = &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
		}
		out = append(out, ev)
	}
	return out
}

func inRange(key, start, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(key, start)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(key, start) >= 0
	default:
		return bytes.Compare(key, start) >= 0 && bytes.Compare(key, end) < 0
	}
}
