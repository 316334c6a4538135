package etcdapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// next waits for one watch response.
func next(t *testing.T, ch clientv3.WatchChan, what string) clientv3.WatchResponse {
	t.Helper()
	select {
	case resp, ok := <-ch:
		if !ok {
			t.Fatalf("%s: watch channel closed", what)
		}
		return resp
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no watch response within 10s", what)
	}
	return clientv3.WatchResponse{}
}

// collect reads watch responses until n events arrived, skipping progress
// notifications.
func collect(t *testing.T, ch clientv3.WatchChan, n int, what string) []*clientv3.Event {
	t.Helper()
	var evs []*clientv3.Event
	for len(evs) < n {
		resp := next(t, ch, what)
		if err := resp.Err(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		evs = append(evs, resp.Events...)
	}
	return evs
}

func describe(evs []*clientv3.Event) string {
	var parts []string
	for _, ev := range evs {
		s := fmt.Sprintf("%s %s=%s@%d", ev.Type, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
		if ev.PrevKv != nil {
			s += fmt.Sprintf(" (prev %s)", ev.PrevKv.Value)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func TestWatch(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	f := c.follower(t)
	cli := newClient(t, c.urls[f])
	ctx := stepCtx(t)

	first, err := cli.Put(ctx, "w/k", "v1")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if _, err := cli.Put(ctx, "w/k", "v2"); err != nil {
		t.Fatalf("put: %v", err)
	}
	if _, err := cli.Delete(ctx, "w/k"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	rev1 := first.Header.Revision

	// History from a revision, with previous values, served by a follower.
	wctx, cancelWatches := context.WithCancel(ctx)
	defer cancelWatches()
	hist := cli.Watch(wctx, "w/k", clientv3.WithRev(rev1), clientv3.WithPrevKV())
	got := describe(collect(t, hist, 3, "watch from a revision"))
	want := fmt.Sprintf("PUT w/k=v1@%d, PUT w/k=v2@%d (prev v1), DELETE w/k=@%d (prev v2)", rev1, rev1+1, rev1+2)
	if got != want {
		t.Fatalf("watch from revision %d:\n got %s\nwant %s", rev1, got, want)
	}

	// A second watch on the same stream (same context), deletes only.
	dels := cli.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithFilterPut())
	put, err := cli.Put(ctx, "w/a", "x")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if _, err := cli.Delete(ctx, "w/a"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := describe(collect(t, dels, 1, "delete-only watch")); got != fmt.Sprintf("DELETE w/a=@%d", put.Header.Revision+1) {
		t.Fatalf("delete-only watch got %s", got)
	}

	// A progress request is answered on every watch of the stream, at the
	// current revision, once each has caught up.
	if err := cli.RequestProgress(wctx); err != nil {
		t.Fatalf("request progress: %v", err)
	}
	cur := put.Header.Revision + 1
	for _, w := range []struct {
		name string
		ch   clientv3.WatchChan
	}{{"history watch", hist}, {"delete-only watch", dels}} {
		resp := next(t, w.ch, w.name+" progress")
		if !resp.IsProgressNotify() || resp.Header.Revision != cur {
			t.Fatalf("%s: got %+v; want a progress notification at %d", w.name, resp, cur)
		}
	}

	// Watch from a compacted revision: canceled with the compaction
	// revision, which the client reports as ErrCompacted.
	if _, err := cli.Compact(ctx, cur); err != nil {
		t.Fatalf("compact: %v", err)
	}
	c.WaitConverged(5 * time.Second) // watches read the local replica
	gone := cli.Watch(wctx, "w/k", clientv3.WithRev(rev1))
	resp := next(t, gone, "watch from a compacted revision")
	if !resp.Canceled || resp.CompactRevision != cur || !errors.Is(resp.Err(), rpctypes.ErrCompacted) {
		t.Fatalf("watch from compacted revision %d: canceled %v, compact revision %d, err %v; want canceled at %d with %v",
			rev1, resp.Canceled, resp.CompactRevision, resp.Err(), cur, rpctypes.ErrCompacted)
	}

	// The other watches carry on.
	if _, err := cli.Delete(ctx, "w/k"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := cli.Put(ctx, "w/k", "v3"); err != nil {
		t.Fatalf("put: %v", err)
	}
	if got := describe(collect(t, hist, 1, "history watch after compaction")); !strings.HasPrefix(got, "PUT w/k=v3") {
		t.Fatalf("history watch after compaction got %s", got)
	}

	// Canceling one watch (its own context) leaves the rest running.
	octx, cancelOne := context.WithCancel(ctx)
	one := cli.Watch(octx, "w/one")
	if _, err := cli.Put(ctx, "w/one", "1"); err != nil {
		t.Fatalf("put: %v", err)
	}
	collect(t, one, 1, "watch to cancel")
	cancelOne()
	for range one {
	}
	if _, err := cli.Delete(ctx, "w/k"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := describe(collect(t, hist, 1, "history watch after a cancel")); !strings.HasPrefix(got, "DELETE w/k") {
		t.Fatalf("history watch after a cancel got %s", got)
	}
}

func TestWatchProgressNotify(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t, WithProgressNotifyInterval(100*time.Millisecond))
	cli := newClient(t, c.urls[c.follower(t)])
	ctx := stepCtx(t)
	put, err := cli.Put(ctx, "p", "1")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	ch := cli.Watch(ctx, "p", clientv3.WithProgressNotify(), clientv3.WithRev(put.Header.Revision+1))
	resp := next(t, ch, "idle watch with progress_notify")
	if !resp.IsProgressNotify() || resp.Header.Revision != put.Header.Revision {
		t.Fatalf("got %+v; want a progress notification at %d", resp, put.Header.Revision)
	}
}

// TestWatchProtocol drives the Watch stream directly, checking what the
// client library hides: watch IDs, the -1 progress answer and the order of
// created and canceled responses.
func TestWatchProtocol(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	cli := newClient(t, c.urls[c.follower(t)])
	ctx := stepCtx(t)
	for i := range 3 {
		if _, err := cli.Put(ctx, "k", fmt.Sprint(i)); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	c.WaitConverged(5 * time.Second)
	stream, err := pb.NewWatchClient(cli.ActiveConnection()).Watch(ctx)
	if err != nil {
		t.Fatalf("open watch stream: %v", err)
	}
	send := func(req *pb.WatchRequest) {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatalf("send %v: %v", req, err)
		}
	}
	recv := func() *pb.WatchResponse {
		t.Helper()
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		return resp
	}
	create := func(cr *pb.WatchCreateRequest) {
		send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: cr}})
	}
	rev := c.Nodes[0].Store().Rev()

	create(&pb.WatchCreateRequest{Key: []byte("k"), WatchId: 7})
	if r := recv(); !r.Created || r.WatchId != 7 || r.Header.Revision != rev {
		t.Fatalf("create with ID 7: %v", r)
	}
	create(&pb.WatchCreateRequest{Key: []byte("k"), WatchId: 7})
	if r := recv(); !r.Created || !r.Canceled || r.WatchId != invalidWatchID || !strings.Contains(r.CancelReason, "duplicate watch ID") {
		t.Fatalf("create with a duplicate ID: %v", r)
	}
	create(&pb.WatchCreateRequest{Key: []byte("k"), StartRevision: rev - 1})
	if r := recv(); !r.Created || r.WatchId != 0 {
		t.Fatalf("create with a server-chosen ID: %v", r)
	}
	if r := recv(); r.WatchId != 0 || len(r.Events) != 2 || r.Events[0].Kv.ModRevision != rev-1 || r.Events[0].Type != mvccpb.PUT {
		t.Fatalf("history of watch 0: %v", r)
	}
	create(&pb.WatchCreateRequest{Key: []byte("z"), RangeEnd: []byte("a")})
	if r := recv(); !r.Created || !r.Canceled || r.WatchId != invalidWatchID || r.CancelReason == "" {
		t.Fatalf("create with an empty range: %v", r)
	}

	send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}})
	if r := recv(); r.WatchId != invalidWatchID || r.Header.Revision != rev || len(r.Events) != 0 || r.Created || r.Canceled {
		t.Fatalf("progress answer: %v; want one notification with watch ID -1 at %d", r, rev)
	}

	send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 7}}})
	if r := recv(); !r.Canceled || r.WatchId != 7 || r.CancelReason != "" {
		t.Fatalf("cancel watch 7: %v", r)
	}

	if _, err := cli.Compact(ctx, rev); err != nil {
		t.Fatalf("compact: %v", err)
	}
	c.WaitConverged(5 * time.Second)
	create(&pb.WatchCreateRequest{Key: []byte("k"), StartRevision: rev - 2})
	if r := recv(); !r.Created || r.WatchId != 1 {
		t.Fatalf("create from a compacted revision: %v; want created as watch 1 first", r)
	}
	if r := recv(); !r.Canceled || r.WatchId != 1 || r.CompactRevision != rev {
		t.Fatalf("watch from a compacted revision: %v; want canceled with compact_revision %d", r, rev)
	}

	// Watch 0 still delivers.
	put, err := cli.Put(ctx, "k", "after")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if r := recv(); r.WatchId != 0 || len(r.Events) != 1 || r.Events[0].Kv.ModRevision != put.Header.Revision {
		t.Fatalf("watch 0 after the others ended: %v", r)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("close send: %v", err)
	}
}

// A stream that asks for progress while one of its watches is still
// catching up gets an answer only once that watch has caught up, and the
// answer never claims less than a watch has already sent.
func TestWatchProgressWaitsForCatchUp(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	cli := newClient(t, c.urls[c.Leader()])
	ctx := stepCtx(t)
	var ops []clientv3.Op
	for i := range 100 {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("h/%03d", i), strings.Repeat("v", 1000)))
	}
	for range 20 {
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatalf("txn: %v", err)
		}
	}
	c.WaitConverged(5 * time.Second)
	rev := c.Nodes[0].Store().Rev()
	ch := cli.Watch(ctx, "h/", clientv3.WithPrefix(), clientv3.WithRev(1))
	if err := cli.RequestProgress(ctx); err != nil {
		t.Fatalf("request progress: %v", err)
	}
	events := 0
	for {
		resp := next(t, ch, "catch-up watch")
		if resp.IsProgressNotify() {
			if resp.Header.Revision != rev || events != 2000 {
				t.Fatalf("progress at %d after %d events; want at %d after all 2000", resp.Header.Revision, events, rev)
			}
			return
		}
		events += len(resp.Events)
	}
}

// A member cut off from the leader ends require-leader watches with
// ErrNoLeader and refuses new require-leader requests, as etcd does, so
// clients such as kube-apiserver move to a member that still hears writes.
func TestRequireLeaderOnIsolatedMember(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	f := c.follower(t)
	cli := newClient(t, c.urls[f])
	ctx := stepCtx(t)
	if _, err := cli.Put(ctx, "rl", "1"); err != nil {
		t.Fatalf("put: %v", err)
	}
	c.WaitConverged(5 * time.Second)
	plain := cli.Watch(ctx, "rl")
	required := cli.Watch(clientv3.WithRequireLeader(ctx), "rl")

	c.Isolate(f)
	resp := next(t, required, "require-leader watch on an isolated member")
	if !errors.Is(resp.Err(), rpctypes.ErrNoLeader) {
		t.Fatalf("require-leader watch on an isolated member: %+v, err %v; want %v", resp, resp.Err(), rpctypes.ErrNoLeader)
	}
	// The raw client: clientv3 would retry the Unavailable error for a while.
	kv := pb.NewKVClient(cli.ActiveConnection())
	_, err := kv.Range(clientv3.WithRequireLeader(ctx), &pb.RangeRequest{Key: []byte("rl"), Serializable: true})
	if err := rpctypes.Error(err); !errors.Is(err, rpctypes.ErrNoLeader) {
		t.Fatalf("require-leader get on an isolated member: err %v; want %v", err, rpctypes.ErrNoLeader)
	}
	if got, err := cli.Get(ctx, "rl", clientv3.WithSerializable()); err != nil || len(got.Kvs) != 1 {
		t.Fatalf("serializable get on an isolated member = %v, %v; want the local value", got, err)
	}
	select {
	case resp := <-plain:
		t.Fatalf("a watch without require-leader ended: %+v", resp)
	default:
	}
	c.Heal()
}
