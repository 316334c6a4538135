package etcdapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestKVThroughFollower(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	cli := newClient(t, c.urls[c.follower(t)])
	ctx := stepCtx(t)

	var lastRev int64
	for i := range 5 {
		resp, err := cli.Put(ctx, fmt.Sprintf("a/%d", i), fmt.Sprintf("v%d", i))
		if err != nil {
			t.Fatalf("put a/%d through a follower: %v", i, err)
		}
		if resp.Header.Revision <= lastRev {
			t.Fatalf("put a/%d: revision %d not after %d", i, resp.Header.Revision, lastRev)
		}
		lastRev = resp.Header.Revision
	}
	if _, err := cli.Put(ctx, "b", "outside"); err != nil {
		t.Fatalf("put b: %v", err)
	}

	// A linearizable read on another member sees the writes at once.
	other := newClient(t, c.urls[c.Leader()])
	get, err := other.Get(ctx, "a/3")
	if err != nil || len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "v3" {
		t.Fatalf("get a/3 on the leader = %v, %v; want v3", get, err)
	}

	all, err := cli.Get(ctx, "a/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("get prefix a/: %v", err)
	}
	if all.Count != 5 || len(all.Kvs) != 5 || all.More {
		t.Fatalf("get prefix a/: count %d, %d kvs, more %v; want 5, 5, false", all.Count, len(all.Kvs), all.More)
	}
	page, err := cli.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithLimit(2))
	if err != nil {
		t.Fatalf("get prefix a/ limit 2: %v", err)
	}
	if page.Count != 5 || len(page.Kvs) != 2 || !page.More || string(page.Kvs[1].Key) != "a/1" {
		t.Fatalf("get prefix a/ limit 2: count %d, kvs %v, more %v", page.Count, page.Kvs, page.More)
	}
	desc, err := cli.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithLimit(1), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil || len(desc.Kvs) != 1 || string(desc.Kvs[0].Key) != "a/4" {
		t.Fatalf("get prefix a/ sorted descending, limit 1 = %v, %v; want a/4", desc, err)
	}

	// Compare-and-swap on the mod revision, as kube-apiserver updates.
	casRev := all.Kvs[0].ModRevision
	cas := func(expect int64, v string) *clientv3.TxnResponse {
		t.Helper()
		resp, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision("a/0"), "=", expect)).
			Then(clientv3.OpPut("a/0", v)).
			Else(clientv3.OpGet("a/0")).
			Commit()
		if err != nil {
			t.Fatalf("txn CAS a/0 at %d: %v", expect, err)
		}
		return resp
	}
	if r := cas(casRev, "swapped"); !r.Succeeded {
		t.Fatalf("CAS at the current mod revision failed")
	}
	r := cas(casRev, "again")
	if r.Succeeded {
		t.Fatalf("CAS at a stale mod revision succeeded")
	}
	if kvs := r.Responses[0].GetResponseRange().Kvs; len(kvs) != 1 || string(kvs[0].Value) != "swapped" {
		t.Fatalf("failed CAS read back %v; want swapped", kvs)
	}

	del, err := cli.Delete(ctx, "a/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil || del.Deleted != 5 || len(del.PrevKvs) != 5 {
		t.Fatalf("delete prefix a/ = %v, %v; want 5 deleted with previous values", del, err)
	}
	if left, err := cli.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || left.Count != 0 {
		t.Fatalf("count a/ after delete = %v, %v; want 0", left, err)
	}

	// Compaction: reads below it fail as etcd's do, reads at it still work.
	old := casRev
	cur, err := cli.Put(ctx, "b", "later")
	if err != nil {
		t.Fatalf("put b: %v", err)
	}
	if _, err := cli.Compact(ctx, old+1); err != nil {
		t.Fatalf("compact at %d: %v", old+1, err)
	}
	if _, err := cli.Get(ctx, "a/0", clientv3.WithRev(old)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("get at compacted revision %d: err %v; want %v", old, err, rpctypes.ErrCompacted)
	}
	if _, err := cli.Get(ctx, "a/0", clientv3.WithRev(old+1)); err != nil {
		t.Fatalf("get at the compaction revision %d: %v", old+1, err)
	}
	if _, err := cli.Compact(ctx, old); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("compact again below the compaction: err %v; want %v", err, rpctypes.ErrCompacted)
	}
	future := cur.Header.Revision + 100
	if _, err := cli.Get(ctx, "b", clientv3.WithRev(future)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("get at future revision %d: err %v; want %v", future, err, rpctypes.ErrFutureRev)
	}
}

func TestKVErrors(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	f := c.follower(t)
	cli := newClient(t, c.urls[f])
	ctx := stepCtx(t)
	kv := pb.NewKVClient(cli.ActiveConnection())
	maxBytes := c.Nodes[f].Store().MaxRequestBytes()

	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"oversize put", func() error {
			_, err := cli.Put(ctx, "big", strings.Repeat("x", maxBytes+1))
			return err
		}, rpctypes.ErrRequestTooLarge},
		{"empty key", func() error {
			_, err := cli.Put(ctx, "", "v")
			return err
		}, rpctypes.ErrEmptyKey},
		{"duplicate key in txn", func() error {
			_, err := cli.Txn(ctx).Then(clientv3.OpPut("dup", "1"), clientv3.OpPut("dup", "2")).Commit()
			return err
		}, rpctypes.ErrDuplicateKey},
		{"put and delete of one key in txn", func() error {
			_, err := cli.Txn(ctx).Then(clientv3.OpPut("dup", "1"), clientv3.OpDelete("d", clientv3.WithPrefix())).Commit()
			return err
		}, rpctypes.ErrDuplicateKey},
		{"too many ops", func() error {
			var ops []clientv3.Op
			for i := range 129 {
				ops = append(ops, clientv3.OpPut(fmt.Sprintf("op%d", i), "v"))
			}
			_, err := cli.Txn(ctx).Then(ops...).Commit()
			return err
		}, rpctypes.ErrTooManyOps},
		{"ignore value on missing key", func() error {
			_, err := cli.Put(ctx, "missing", "", clientv3.WithIgnoreValue())
			return err
		}, rpctypes.ErrKeyNotFound},
		{"value with ignore value", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true})
			return rpctypes.Error(err)
		}, rpctypes.ErrValueProvided},
		{"lease with ignore lease", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Lease: 5, IgnoreLease: true})
			return rpctypes.Error(err)
		}, rpctypes.ErrLeaseProvided},
		{"unknown lease", func() error {
			_, err := cli.Put(ctx, "k", "v", clientv3.WithLease(123456))
			return err
		}, rpctypes.ErrLeaseNotFound},
		{"invalid sort order", func() error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("k"), SortOrder: 9})
			return rpctypes.Error(err)
		}, rpctypes.ErrInvalidSortOption},
	}
	for _, tc := range tests {
		if err := tc.do(); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v; want %v", tc.name, err, tc.want)
		}
	}

	// A compare whose value does not match its target is an invalid
	// argument that says which compare is wrong.
	_, err := kv.Txn(ctx, &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("k"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_ModRevision{ModRevision: 3}}},
	})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "compare[0]") || !strings.Contains(st.Message(), "VALUE") {
		t.Errorf("malformed compare: %v; want InvalidArgument naming compare[0] and its target", err)
	}
	_, err = kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{}}})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "success[0]") {
		t.Errorf("empty request op: %v; want InvalidArgument naming success[0]", err)
	}
}

// A request a little over the limit reaches the store (the gRPC limit has
// etcd's 512 KiB of headroom) and gets etcd's error, not a transport error.
func TestRequestSizeLimitLeavesHeadroom(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	cli := newClient(t, c.urls[c.Leader()])
	maxBytes := c.Nodes[0].Store().MaxRequestBytes()
	_, err := cli.Put(stepCtx(t), "big", strings.Repeat("x", maxBytes+RequestOverheadBytes/2))
	if !errors.Is(err, rpctypes.ErrRequestTooLarge) {
		t.Fatalf("put %d bytes over the limit: err %v; want %v", RequestOverheadBytes/2, err, rpctypes.ErrRequestTooLarge)
	}
}
