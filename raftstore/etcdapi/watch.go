package etcdapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/skiff-sh/skiff/raftstore"
)

// invalidWatchID marks a create that failed and a progress notification
// meant for every watch of a stream (clientv3.InvalidWatchID).
const invalidWatchID = -1

// watchServer is etcd's Watch service: one bidirectional stream carries any
// number of watches, each a raftstore.Watcher with its own goroutine, so one
// watch catching up on history never holds back the others.
type watchServer struct {
	pb.UnimplementedWatchServer
	store *raftstore.Store
	opts  options
}

// Watch serves one stream until the client goes away, a send fails or the
// store stops. It returns only after every goroutine it started for the
// stream's watches has ended.
func (ws *watchServer) Watch(stream pb.Watch_WatchServer) error {
	st := &watchStream{
		store:    ws.store,
		opts:     ws.opts,
		stream:   stream,
		watches:  map[int64]*streamWatch{},
		failed:   make(chan struct{}),
		progress: map[int64]*streamWatch{},
	}
	st.ctx, st.cancel = context.WithCancel(stream.Context())
	defer st.close()

	// Recv blocks until a request arrives or the stream ends; it cannot be
	// interrupted, so it runs on its own goroutine, which ends once the
	// handler has returned and gRPC has torn the stream down.
	reqc := make(chan recvResult)
	go func() {
		for {
			req, err := stream.Recv()
			select {
			case reqc <- recvResult{req, err}:
			case <-st.ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()

	for {
		select {
		case r := <-reqc:
			if errors.Is(r.err, io.EOF) {
				reqc = nil // the client sends no more; keep serving its watches
				continue
			}
			if r.err != nil {
				return r.err
			}
			if err := st.handle(r.req); err != nil {
				return err
			}
		case <-st.failed:
			return st.failErr
		case <-stream.Context().Done():
			if errors.Is(stream.Context().Err(), context.Canceled) {
				return rpctypes.ErrGRPCWatchCanceled
			}
			return stream.Context().Err()
		}
	}
}

type recvResult struct {
	req *pb.WatchRequest
	err error
}

// watchStream is the state of one Watch stream.
type watchStream struct {
	store  *raftstore.Store
	opts   options
	stream pb.Watch_WatchServer
	ctx    context.Context // ends every watch of the stream
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per watch goroutine

	// mu guards the watch table (IDs in use). Only the handler goroutine
	// adds watches; watch goroutines remove themselves.
	mu      sync.Mutex
	watches map[int64]*streamWatch
	nextID  int64

	// sendMu serialises Send (gRPC allows one sender at a time) and guards
	// the progress bookkeeping below, so what a progress notification
	// claims is decided together with the order of everything sent.
	sendMu sync.Mutex
	// progress holds the watches announced to the client (Created sent) and
	// not yet ended: the ones a stream-wide progress notification speaks for.
	progress map[int64]*streamWatch
	// awaiting is non-nil while a progress request is being answered: the
	// watches that have yet to report that they caught up.
	awaiting map[int64]bool

	failOnce sync.Once
	failed   chan struct{}
	failErr  error
}

// streamWatch is one watch of a stream.
type streamWatch struct {
	id             int64
	w              *raftstore.Watcher
	progressNotify bool
	cancelAsked    atomic.Bool

	// Guarded by watchStream.sendMu.
	through   int64 // every event at or below it has been sent
	lastEvent int64 // revision of the last event sent
	done      bool  // the final response (if any) was sent
}

// fail ends the stream with err (the first failure wins).
func (st *watchStream) fail(err error) {
	st.failOnce.Do(func() {
		st.failErr = err
		close(st.failed)
	})
}

// close ends every watch and waits for their goroutines.
func (st *watchStream) close() {
	st.cancel()
	st.wg.Wait()
}

// handle acts on one request from the client.
func (st *watchStream) handle(req *pb.WatchRequest) error {
	switch r := req.RequestUnion.(type) {
	case *pb.WatchRequest_CreateRequest:
		if r.CreateRequest != nil {
			return st.create(r.CreateRequest)
		}
	case *pb.WatchRequest_CancelRequest:
		if r.CancelRequest != nil {
			st.cancelWatch(r.CancelRequest.WatchId)
		}
	case *pb.WatchRequest_ProgressRequest:
		if r.ProgressRequest != nil {
			st.requestProgress()
		}
	}
	// Unknown requests are ignored, as etcd does, rather than ending the
	// stream and every watch on it.
	return nil
}

// create starts a watch and announces it. Like etcd, a create that cannot
// be served is answered with created and canceled together, watch ID -1 and
// the reason.
func (st *watchStream) create(cr *pb.WatchCreateRequest) error {
	rev := st.store.Rev()
	refuse := func(reason string) error {
		return st.send(&pb.WatchResponse{
			Header:       st.store.ResponseHeader(rev),
			WatchId:      invalidWatchID,
			Created:      true,
			Canceled:     true,
			CancelReason: reason,
		})
	}
	if cr.StartRevision < 0 {
		return refuse(rpctypes.ErrorDesc(rpctypes.ErrGRPCCompacted))
	}
	key := cr.Key
	if len(key) == 0 {
		key = []byte{0} // the smallest key, as etcd reads an empty one
	}
	// Resolve "from now" here, so that the created response's revision and
	// the watch's first revision agree exactly.
	start := cr.StartRevision
	if start == 0 {
		start = rev + 1
	}
	id, err := st.reserveID(cr.WatchId)
	if err != nil {
		return refuse(err.Error())
	}
	// Nothing below the start revision concerns the watch, but a progress
	// claim never goes past the store's revision (etcd's never does).
	sw := &streamWatch{id: id, progressNotify: cr.ProgressNotify, through: min(start-1, rev)}
	req := raftstore.WatchRequest{
		Key:              key,
		RangeEnd:         cr.RangeEnd,
		StartRevision:    start,
		PrevKV:           cr.PrevKv,
		ProgressNotify:   cr.ProgressNotify,
		ProgressInterval: st.opts.progressInterval,
	}
	for _, f := range cr.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			req.NoPut = true
		case pb.WatchCreateRequest_NODELETE:
			req.NoDelete = true
		}
	}
	w, err := st.store.Watch(st.ctx, req)
	if err != nil {
		st.releaseID(id, cr.WatchId == 0)
		return refuse(err.Error())
	}
	sw.w = w
	st.mu.Lock()
	st.watches[id] = sw
	st.mu.Unlock()

	st.sendMu.Lock()
	err = st.sendLocked(&pb.WatchResponse{Header: st.store.ResponseHeader(rev), WatchId: id, Created: true})
	if err == nil {
		st.progress[id] = sw
	}
	st.sendMu.Unlock()

	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		st.pump(sw)
	}()
	return err
}

// reserveID claims the client's watch ID, or the next free one if the client
// left it to the server (0), as etcd numbers them.
func (st *watchStream) reserveID(want int64) (int64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if want != 0 {
		if _, taken := st.watches[want]; taken {
			return 0, fmt.Errorf("mvcc: duplicate watch ID provided on the WatchStream: %d", want)
		}
		st.watches[want] = nil
		return want, nil
	}
	for {
		if _, taken := st.watches[st.nextID]; !taken {
			break
		}
		st.nextID++
	}
	id := st.nextID
	st.nextID++
	st.watches[id] = nil
	return id, nil
}

// releaseID frees the ID of a watch that could not be created; a
// server-chosen one is handed out again next, as etcd allocates IDs only for
// watches it creates.
func (st *watchStream) releaseID(id int64, auto bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.watches, id)
	if auto && st.nextID == id+1 {
		st.nextID = id
	}
}

// cancelWatch ends a watch at the client's request; its goroutine sends the
// canceled response once the watch has stopped. Unknown IDs are ignored.
func (st *watchStream) cancelWatch(id int64) {
	st.mu.Lock()
	sw := st.watches[id]
	st.mu.Unlock()
	if sw == nil || sw.cancelAsked.Swap(true) {
		return
	}
	sw.w.Close()
}

// pump forwards one watch's responses to the client until the watch ends.
func (st *watchStream) pump(sw *streamWatch) {
	ended := false // the store ended the watch with a canceled response
	for r := range sw.w.C {
		switch {
		case sw.cancelAsked.Load():
			// Drain: the client no longer wants this watch.
		case r.Canceled:
			ended = true
			st.finish(sw, st.canceledResponse(sw, r))
		case len(r.Events) > 0:
			st.sendEvents(sw, r)
		default:
			st.sendProgress(sw, r)
		}
	}
	switch {
	case sw.cancelAsked.Load():
		st.finish(sw, &pb.WatchResponse{Header: st.store.ResponseHeader(st.store.Rev()), WatchId: sw.id, Canceled: true})
	case ended, st.ctx.Err() != nil:
		st.finish(sw, nil)
	default:
		// The watch ended without being asked to: the store stopped. End
		// the stream so the client resumes its watches elsewhere.
		st.finish(sw, nil)
		st.fail(rpctypes.ErrGRPCStopped)
	}
}

// canceledResponse translates the store ending a watch. A compacted start
// revision is reported with compact_revision set, as etcd does.
func (st *watchStream) canceledResponse(sw *streamWatch, r raftstore.WatchResponse) *pb.WatchResponse {
	resp := &pb.WatchResponse{Header: r.Header, WatchId: sw.id, Canceled: true, CompactRevision: r.CompactRevision}
	if r.CompactRevision == 0 {
		if r.Err != nil {
			resp.CancelReason = r.Err.Error()
		} else {
			resp.CancelReason = "etcdserver: watch canceled"
		}
	}
	return resp
}

// finish removes a watch from the stream, sending its final response if
// there is one and it has not been sent. The ID is freed before the final
// response goes out, so a client that reuses it on seeing the response
// cannot collide.
func (st *watchStream) finish(sw *streamWatch, final *pb.WatchResponse) {
	st.mu.Lock()
	if st.watches[sw.id] == sw {
		delete(st.watches, sw.id)
	}
	st.mu.Unlock()

	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	delete(st.progress, sw.id)
	if st.awaiting != nil {
		delete(st.awaiting, sw.id)
		st.answerProgressLocked()
	}
	if final != nil && !sw.done {
		sw.done = true
		_ = st.sendLocked(final)
	}
}

func (st *watchStream) sendEvents(sw *streamWatch, r raftstore.WatchResponse) {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if sw.done {
		return
	}
	if err := st.sendLocked(&pb.WatchResponse{Header: r.Header, WatchId: sw.id, Events: r.Events}); err != nil {
		return
	}
	last := r.Events[len(r.Events)-1].Kv.ModRevision
	sw.lastEvent = max(sw.lastEvent, last)
	sw.through = max(sw.through, last)
}

// sendProgress handles a watch's report that it has sent everything up to
// r.Header.Revision. If a progress request awaits it, the report counts
// towards the stream-wide answer; otherwise it is passed on to watches
// that asked for progress_notify and dropped for the rest.
func (st *watchStream) sendProgress(sw *streamWatch, r raftstore.WatchResponse) {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if sw.done {
		return
	}
	rev := r.Header.GetRevision()
	sw.through = max(sw.through, rev)
	if st.awaiting[sw.id] {
		delete(st.awaiting, sw.id)
		st.answerProgressLocked()
		return
	}
	if sw.progressNotify && rev >= sw.lastEvent {
		_ = st.sendLocked(&pb.WatchResponse{Header: r.Header, WatchId: sw.id})
	}
}

// requestProgress answers a WatchProgressRequest. Like etcd, the answer is a
// single notification with watch ID -1, which the client hands to every
// watch of the stream, sent once every watch has caught up; its revision R
// promises that every event at or below R has been sent on every watch.
func (st *watchStream) requestProgress() {
	st.sendMu.Lock()
	if st.awaiting == nil {
		st.awaiting = map[int64]bool{}
	}
	var ask []*streamWatch
	for id, sw := range st.progress {
		st.awaiting[id] = true
		ask = append(ask, sw)
	}
	st.answerProgressLocked() // at once, if the stream has no watches
	st.sendMu.Unlock()
	for _, sw := range ask {
		sw.w.RequestProgress()
	}
}

// answerProgressLocked sends the answer to a progress request once no watch
// is awaited. R is the lowest revision every announced watch has sent up
// to. If some watch has already sent an event past R, a -1 notification at
// R would move that watch's resume point backwards, so each watch is told
// its own progress instead.
func (st *watchStream) answerProgressLocked() {
	if st.awaiting == nil || len(st.awaiting) > 0 {
		return
	}
	st.awaiting = nil
	if len(st.progress) == 0 {
		return
	}
	first := true
	var through, lastEvent int64
	for _, sw := range st.progress {
		if sw.cancelAsked.Load() {
			continue
		}
		if first || sw.through < through {
			through = sw.through
		}
		lastEvent = max(lastEvent, sw.lastEvent)
		first = false
	}
	if first {
		return
	}
	if lastEvent <= through {
		_ = st.sendLocked(&pb.WatchResponse{Header: st.store.ResponseHeader(through), WatchId: invalidWatchID})
		return
	}
	for _, sw := range st.progress {
		if !sw.cancelAsked.Load() {
			if st.sendLocked(&pb.WatchResponse{Header: st.store.ResponseHeader(sw.through), WatchId: sw.id}) != nil {
				return
			}
		}
	}
}

// send writes one response to the client.
func (st *watchStream) send(resp *pb.WatchResponse) error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	return st.sendLocked(resp)
}

// sendLocked writes one response; sendMu must be held. A failed send ends
// the stream: the client can no longer trust what it has received.
func (st *watchStream) sendLocked(resp *pb.WatchResponse) error {
	select {
	case <-st.failed:
		return st.failErr
	default:
	}
	if err := st.stream.Send(resp); err != nil {
		err = fmt.Errorf("etcdapi: send watch response (watch %d): %w", resp.WatchId, err)
		st.fail(err)
		return err
	}
	return nil
}
