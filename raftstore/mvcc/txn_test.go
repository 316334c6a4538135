package mvcc

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// txnFixture: k = "v" (create 2, mod 3, version 2, lease 5), j = "w" (create
// 4, mod 4, version 1), current revision 4; "missing" was never written.
func txnFixture(t *testing.T) *Store {
	t.Helper()
	s := New(0)
	if err := s.LeaseGrant(5, 60); err != nil {
		t.Fatalf("LeaseGrant: %v", err)
	}
	mustPut(t, s, "k", "u")         // 2
	mustPutLease(t, s, "k", "v", 5) // 3
	mustPut(t, s, "j", "w")         // 4
	return s
}

func TestTxnCompare(t *testing.T) {
	const (
		eq   = pb.Compare_EQUAL
		ne   = pb.Compare_NOT_EQUAL
		gt   = pb.Compare_GREATER
		lt   = pb.Compare_LESS
		miss = "missing"
	)
	tests := []struct {
		name string
		cmp  *pb.Compare
		want bool
	}{
		{"value equal", cmpValue("k", eq, "v"), true},
		{"value equal, other", cmpValue("k", eq, "x"), false},
		{"value not equal", cmpValue("k", ne, "x"), true},
		{"value not equal, same", cmpValue("k", ne, "v"), false},
		{"value greater", cmpValue("k", gt, "u"), true},
		{"value greater, same", cmpValue("k", gt, "v"), false},
		{"value less", cmpValue("k", lt, "w"), true},
		{"value less than empty", cmpValue("k", lt, ""), false},
		{"version equal", cmpVersion("k", eq, 2), true},
		{"version not equal", cmpVersion("k", ne, 2), false},
		{"version greater", cmpVersion("k", gt, 1), true},
		{"version less", cmpVersion("k", lt, 2), false},
		{"create equal", cmpCreate("k", eq, 2), true},
		{"create not equal", cmpCreate("k", ne, 3), true},
		{"create greater", cmpCreate("k", gt, 2), false},
		{"create less", cmpCreate("k", lt, 3), true},
		{"mod equal", cmpMod("k", eq, 3), true},
		{"mod not equal", cmpMod("k", ne, 3), false},
		{"mod greater", cmpMod("k", gt, 2), true},
		{"mod less", cmpMod("k", lt, 3), false},
		{"lease equal", cmpLease("k", eq, 5), true},
		{"lease not equal", cmpLease("k", ne, 5), false},
		{"lease greater", cmpLease("k", gt, 4), true},
		{"lease less", cmpLease("j", lt, 1), true},
		{"lease of a key without one is zero", cmpLease("j", eq, 0), true},

		// A missing key: VALUE compares always fail; the others see zero.
		{"missing: value equal empty", cmpValue(miss, eq, ""), false},
		{"missing: value not equal", cmpValue(miss, ne, "x"), false},
		{"missing: value less", cmpValue(miss, lt, "x"), false},
		{"missing: version equal 0", cmpVersion(miss, eq, 0), true},
		{"missing: version greater 0", cmpVersion(miss, gt, 0), false},
		{"missing: create equal 0", cmpCreate(miss, eq, 0), true},
		{"missing: create less 1", cmpCreate(miss, lt, 1), true},
		{"missing: mod equal 0", cmpMod(miss, eq, 0), true},
		{"missing: mod not equal 0", cmpMod(miss, ne, 0), false},
		{"missing: lease equal 0", cmpLease(miss, eq, 0), true},
		{"missing: lease greater 0", cmpLease(miss, gt, 0), false},

		// A target with no union value compares against the zero value.
		{"version with no union", &pb.Compare{Key: []byte(miss), Target: pb.Compare_VERSION, Result: eq}, true},
		{"mod with no union", &pb.Compare{Key: []byte("k"), Target: pb.Compare_MOD, Result: gt}, true},

		// Over a range every key must satisfy the compare.
		{"range: all versions > 0", withEnd(cmpVersion("a", gt, 0), "z"), true},
		{"range: not all versions == 2", withEnd(cmpVersion("a", eq, 2), "z"), false},
		{"range: all creates < 5", withEnd(cmpCreate("a", lt, 5), "z"), true},
		{"range: all values != x", withEnd(cmpValue("a", ne, "x"), "z"), true},
		{"range: not all values == v", withEnd(cmpValue("a", eq, "v"), "z"), false},
		{"range: from key", withEnd(cmpMod("j", gt, 2), "\x00"), true},
		{"range: from key, fails on k", withEnd(cmpMod("j", gt, 3), "\x00"), false},
		{"empty range: version == 0", withEnd(cmpVersion("x", eq, 0), "y"), true},
		{"empty range: value never holds", withEnd(cmpValue("x", ne, "a"), "y"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := txnFixture(t)
			resp := mustTxn(t, s, &pb.TxnRequest{
				Compare: []*pb.Compare{tt.cmp},
				Success: ops(putOp("result", "success")),
				Failure: ops(putOp("result", "failure")),
			})
			if resp.Succeeded != tt.want {
				t.Errorf("succeeded = %v, want %v", resp.Succeeded, tt.want)
			}
			want := map[bool]string{true: "success", false: "failure"}[tt.want]
			if got := mustGet(t, s, "result"); string(got.Value) != want {
				t.Errorf("ran the %q branch, want %q", got.Value, want)
			}
		})
	}
}

func withEnd(c *pb.Compare, end string) *pb.Compare {
	c.RangeEnd = []byte(end)
	return c
}

func TestTxnAllComparesMustHold(t *testing.T) {
	s := txnFixture(t)
	resp := mustTxn(t, s, &pb.TxnRequest{Compare: []*pb.Compare{cmpValue("k", pb.Compare_EQUAL, "v"), cmpVersion("j", pb.Compare_EQUAL, 2)}})
	if resp.Succeeded {
		t.Errorf("txn with one false compare succeeded")
	}
	resp = mustTxn(t, s, &pb.TxnRequest{Compare: []*pb.Compare{cmpValue("k", pb.Compare_EQUAL, "v"), cmpVersion("j", pb.Compare_EQUAL, 1)}})
	if !resp.Succeeded {
		t.Errorf("txn with only true compares failed")
	}
	if resp := mustTxn(t, s, &pb.TxnRequest{}); !resp.Succeeded {
		t.Errorf("txn with no compares failed")
	}
}

func TestTxnBranches(t *testing.T) {
	s := txnFixture(t)
	resp := mustTxn(t, s, &pb.TxnRequest{
		Compare: []*pb.Compare{cmpVersion("k", pb.Compare_EQUAL, 2)},
		Success: ops(putOp("a", "1"), delOp("j", ""), getOp("a", "z")),
		Failure: ops(putOp("b", "1")),
	})
	if !resp.Succeeded || len(resp.Responses) != 3 {
		t.Fatalf("succeeded %v with %d responses, want true with 3", resp.Succeeded, len(resp.Responses))
	}
	if resp.Header.Revision != 5 {
		t.Errorf("header revision %d, want 5", resp.Header.Revision)
	}
	if r := resp.Responses[0].GetResponsePut(); r == nil {
		t.Errorf("response 0 is %T, want a put", resp.Responses[0].Response)
	}
	if r := resp.Responses[1].GetResponseDeleteRange(); r == nil || r.Deleted != 1 {
		t.Errorf("response 1 = %v, want a delete of 1 key", resp.Responses[1])
	}
	// The range sees the txn's own put of a and delete of j.
	rr := resp.Responses[2].GetResponseRange()
	if got := keysOf(rr.GetKvs()); !slices.Equal(got, []string{"a", "k"}) {
		t.Errorf("range in txn: keys %q, want [a k]", got)
	}
	if rr.GetCount() != 2 {
		t.Errorf("range in txn: count %d, want 2", rr.GetCount())
	}
	if _, ok := get(t, s, "b"); ok {
		t.Errorf("failure branch ran too")
	}

	resp = mustTxn(t, s, &pb.TxnRequest{
		Compare: []*pb.Compare{cmpVersion("k", pb.Compare_EQUAL, 1)},
		Success: ops(putOp("c", "1")),
		Failure: ops(getOp("a", ""), putOp("b", "1"), getOp("b", "")),
	})
	if resp.Succeeded || len(resp.Responses) != 3 {
		t.Fatalf("succeeded %v with %d responses, want false with 3", resp.Succeeded, len(resp.Responses))
	}
	// The first range runs before the put, the second after.
	if n := len(resp.Responses[0].GetResponseRange().GetKvs()); n != 1 {
		t.Errorf("first range: %d kvs, want 1", n)
	}
	got := resp.Responses[2].GetResponseRange().GetKvs()
	if len(got) != 1 {
		t.Fatalf("range after put in txn: %d kvs, want 1", len(got))
	}
	checkKV(t, got[0], &mvccpb.KeyValue{Key: []byte("b"), Value: []byte("1"), CreateRevision: 6, ModRevision: 6, Version: 1})
	if _, ok := get(t, s, "c"); ok {
		t.Errorf("success branch ran on failure")
	}
}

func TestTxnRangeAtRevision(t *testing.T) {
	s := txnFixture(t)
	read := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("k"), Revision: 4}}}
	resp := mustTxn(t, s, &pb.TxnRequest{Success: ops(putOp("k", "new"), read, getOp("k", ""))})
	if got := resp.Responses[1].GetResponseRange().GetKvs(); len(got) != 1 || string(got[0].Value) != "v" {
		t.Errorf("range at the pre-txn revision inside the txn: %q, want the old value", keysOf(got))
	}
	if got := resp.Responses[2].GetResponseRange().GetKvs(); len(got) != 1 || string(got[0].Value) != "new" {
		t.Errorf("range at the txn's revision: got %d kvs, want the new value", len(got))
	}
	// A range at a revision the txn has not made yet is a future revision.
	future := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("k"), Revision: 6}}}
	h, rev := s.Hash(), s.Rev()
	if _, err := s.Txn(&pb.TxnRequest{Success: ops(putOp("k", "x"), future)}); !errors.Is(err, ErrFutureRev) {
		t.Errorf("txn reading a future revision: %v, want %v", err, ErrFutureRev)
	}
	if s.Hash() != h || s.Rev() != rev {
		t.Errorf("failed txn changed the store")
	}
	if err := s.Compact(4); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	old := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("k"), Revision: 3}}}
	h, rev = s.Hash(), s.Rev()
	if _, err := s.Txn(&pb.TxnRequest{Success: ops(putOp("k", "x"), old)}); !errors.Is(err, ErrCompacted) {
		t.Errorf("txn reading a compacted revision: %v, want %v", err, ErrCompacted)
	}
	if s.Hash() != h || s.Rev() != rev {
		t.Errorf("failed txn changed the store")
	}
}

func TestTxnResponseHeaders(t *testing.T) {
	s := txnFixture(t)
	resp := mustTxn(t, s, &pb.TxnRequest{Success: ops(putOp("a", "1"), delOp("x", "y"), txnOp(&pb.TxnRequest{Success: ops(putOp("c", "1"))}))})
	if resp.Header.Revision != 5 {
		t.Fatalf("header revision %d, want 5", resp.Header.Revision)
	}
	for i, r := range resp.Responses {
		var h *pb.ResponseHeader
		switch v := r.Response.(type) {
		case *pb.ResponseOp_ResponsePut:
			h = v.ResponsePut.Header
		case *pb.ResponseOp_ResponseDeleteRange:
			h = v.ResponseDeleteRange.Header
		case *pb.ResponseOp_ResponseTxn:
			h = v.ResponseTxn.Header
		}
		if h.GetRevision() != 5 {
			t.Errorf("response %d: header revision %d, want 5", i, h.GetRevision())
		}
	}
}

func TestNestedTxn(t *testing.T) {
	s := txnFixture(t)
	// The outer compare holds; the nested compare on k is evaluated against
	// the state before the txn, not after the outer put of k.
	resp := mustTxn(t, s, &pb.TxnRequest{
		Compare: []*pb.Compare{cmpValue("k", pb.Compare_EQUAL, "v")},
		Success: ops(
			putOp("k", "changed"),
			txnOp(&pb.TxnRequest{
				Compare: []*pb.Compare{cmpValue("k", pb.Compare_EQUAL, "v")},
				Success: ops(putOp("inner", "saw-old"), getOp("k", "")),
				Failure: ops(putOp("inner", "saw-new")),
			}),
			txnOp(&pb.TxnRequest{
				Compare: []*pb.Compare{cmpVersion("j", pb.Compare_EQUAL, 99)},
				Success: ops(putOp("second", "success")),
				Failure: ops(txnOp(&pb.TxnRequest{Success: ops(putOp("deep", "1"))})),
			}),
		),
	})
	if !resp.Succeeded {
		t.Fatalf("outer txn failed")
	}
	if resp.Header.Revision != 5 || s.Rev() != 5 {
		t.Errorf("nested txn: revision %d, Rev() %d, want one revision (5)", resp.Header.Revision, s.Rev())
	}
	if got := mustGet(t, s, "inner"); string(got.Value) != "saw-old" {
		t.Errorf("nested compare saw %q, want saw-old (compares use the pre-txn state)", got.Value)
	}
	inner := resp.Responses[1].GetResponseTxn()
	if inner == nil || !inner.Succeeded || len(inner.Responses) != 2 {
		t.Fatalf("nested response = %v, want a succeeded txn with 2 responses", inner)
	}
	// The nested range still sees the outer put made before it.
	if kvs := inner.Responses[1].GetResponseRange().GetKvs(); len(kvs) != 1 || string(kvs[0].Value) != "changed" {
		t.Errorf("nested range: %d kvs, want k = changed", len(kvs))
	}
	second := resp.Responses[2].GetResponseTxn()
	if second == nil || second.Succeeded {
		t.Fatalf("second nested txn = %v, want failed", second)
	}
	if _, ok := get(t, s, "second"); ok {
		t.Errorf("second nested txn ran its success branch")
	}
	if _, ok := get(t, s, "deep"); !ok {
		t.Errorf("doubly nested txn on the failure path did not run")
	}
	deep := second.Responses[0].GetResponseTxn()
	if deep == nil || !deep.Succeeded {
		t.Errorf("doubly nested response = %v, want succeeded", deep)
	}
}

func TestKubernetesCAS(t *testing.T) {
	s := New(0)
	key := "/registry/pods/default/web"
	rev := mustPut(t, s, key, "v1")
	cas := func(expect int64, value string) *pb.TxnResponse {
		return mustTxn(t, s, &pb.TxnRequest{
			Compare: []*pb.Compare{cmpMod(key, pb.Compare_EQUAL, expect)},
			Success: ops(putOp(key, value)),
			Failure: ops(getOp(key, "")),
		})
	}
	resp := cas(rev, "v2")
	if !resp.Succeeded {
		t.Fatalf("CAS at the current mod revision failed")
	}
	newRev := resp.Header.Revision
	if got := mustGet(t, s, key); got.ModRevision != newRev || string(got.Value) != "v2" {
		t.Fatalf("after CAS: %s, want v2 at %d", kvString(got), newRev)
	}
	// A stale writer loses and gets the current object back.
	resp = cas(rev, "v3")
	if resp.Succeeded {
		t.Fatalf("CAS with a stale mod revision succeeded")
	}
	if resp.Header.Revision != newRev {
		t.Errorf("failed CAS moved the revision to %d, want %d", resp.Header.Revision, newRev)
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) != 1 || kvs[0].ModRevision != newRev || string(kvs[0].Value) != "v2" {
		t.Errorf("failed CAS returned %q, want the current object", keysOf(kvs))
	}
	// Create-only: mod_revision == 0 on a missing key.
	create := mustTxn(t, s, &pb.TxnRequest{
		Compare: []*pb.Compare{cmpMod("/registry/pods/default/new", pb.Compare_EQUAL, 0)},
		Success: ops(putOp("/registry/pods/default/new", "v1")),
	})
	if !create.Succeeded {
		t.Errorf("create-if-missing failed")
	}
	// Delete with precondition.
	del := mustTxn(t, s, &pb.TxnRequest{
		Compare: []*pb.Compare{cmpMod(key, pb.Compare_EQUAL, newRev)},
		Success: ops(delOp(key, "")),
		Failure: ops(getOp(key, "")),
	})
	if !del.Succeeded {
		t.Errorf("guarded delete failed")
	}
	if _, ok := get(t, s, key); ok {
		t.Errorf("key survived the guarded delete")
	}
}

func TestValidateTxn(t *testing.T) {
	many := func(n int) []*pb.RequestOp {
		out := make([]*pb.RequestOp, n)
		for i := range out {
			out[i] = getOp("k", "")
		}
		return out
	}
	manyCmp := make([]*pb.Compare, DefaultMaxTxnOps+1)
	for i := range manyCmp {
		manyCmp[i] = cmpVersion("k", pb.Compare_EQUAL, 0)
	}
	badPut := func(req *pb.PutRequest) *pb.RequestOp { return putOpReq(req) }
	badRange := func(req *pb.RangeRequest) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: req}}
	}
	tests := []struct {
		name string
		txn  *pb.TxnRequest
		want error
	}{
		{"empty txn", &pb.TxnRequest{}, nil},
		{"max ops", &pb.TxnRequest{Success: many(DefaultMaxTxnOps), Failure: many(DefaultMaxTxnOps)}, nil},
		{"too many success ops", &pb.TxnRequest{Success: many(DefaultMaxTxnOps + 1)}, ErrTooManyOps},
		{"too many failure ops", &pb.TxnRequest{Failure: many(DefaultMaxTxnOps + 1)}, ErrTooManyOps},
		{"too many compares", &pb.TxnRequest{Compare: manyCmp}, ErrTooManyOps},
		{"too many ops in a nested txn", &pb.TxnRequest{Success: ops(txnOp(&pb.TxnRequest{Failure: many(DefaultMaxTxnOps + 1)}))}, ErrTooManyOps},
		// Regression: etcd gives a nested txn what its parent leaves,
		// maxOps less the parent's op count; each level got all of maxOps.
		{"nested txn within the parent's budget", &pb.TxnRequest{Success: ops(getOp("a", ""), txnOp(&pb.TxnRequest{Success: many(DefaultMaxTxnOps - 2)}))}, nil},
		{"nested txn over the parent's budget", &pb.TxnRequest{Success: ops(getOp("a", ""), txnOp(&pb.TxnRequest{Success: many(DefaultMaxTxnOps - 1)}))}, ErrTooManyOps},

		{"duplicate put", &pb.TxnRequest{Success: ops(putOp("a", "1"), putOp("a", "2"))}, ErrDuplicateKey},
		{"duplicate put in failure", &pb.TxnRequest{Failure: ops(putOp("a", "1"), putOp("b", "1"), putOp("a", "2"))}, ErrDuplicateKey},
		{"same key in both branches", &pb.TxnRequest{Success: ops(putOp("a", "1")), Failure: ops(putOp("a", "2"))}, nil},
		{"put and delete of the key", &pb.TxnRequest{Success: ops(delOp("a", ""), putOp("a", "1"))}, ErrDuplicateKey},
		{"put inside a deleted range", &pb.TxnRequest{Success: ops(putOp("b", "1"), delOp("a", "c"))}, ErrDuplicateKey},
		{"put at the end of a deleted range", &pb.TxnRequest{Success: ops(putOp("c", "1"), delOp("a", "c"))}, nil},
		{"put before a deleted range", &pb.TxnRequest{Success: ops(putOp("a", "1"), delOp("a\x00", "c"))}, nil},
		// etcd's own check misses this one (its interval tree reads the
		// "\x00" end literally); a put and a delete of one key in one
		// revision is refused here on purpose.
		{"put inside a from-key delete", &pb.TxnRequest{Success: ops(putOp("zz", "1"), delOp("b", "\x00"))}, ErrDuplicateKey},
		{"two overlapping deletes", &pb.TxnRequest{Success: ops(delOp("a", "c"), delOp("b", "d"))}, nil},
		{"put in one branch, delete in the other", &pb.TxnRequest{Success: ops(putOp("a", "1")), Failure: ops(delOp("a", ""))}, nil},
		{"nested put duplicates outer put", &pb.TxnRequest{Success: ops(putOp("a", "1"), txnOp(&pb.TxnRequest{Success: ops(putOp("a", "2"))}))}, ErrDuplicateKey},
		{"nested put inside outer delete", &pb.TxnRequest{Success: ops(delOp("a", "c"), txnOp(&pb.TxnRequest{Failure: ops(putOp("b", "2"))}))}, ErrDuplicateKey},
		{"outer put inside nested delete", &pb.TxnRequest{Success: ops(putOp("b", "1"), txnOp(&pb.TxnRequest{Success: ops(delOp("a", "c"))}))}, ErrDuplicateKey},
		{"two nested txns put the same key", &pb.TxnRequest{Success: ops(txnOp(&pb.TxnRequest{Success: ops(putOp("a", "1"))}), txnOp(&pb.TxnRequest{Failure: ops(putOp("a", "2"))}))}, ErrDuplicateKey},
		// etcd checks a nested put only against the deletes before it, so it
		// accepts this and writes a twice in one revision; refused here on
		// purpose, like the reverse order.
		{"nested put, later nested delete", &pb.TxnRequest{Success: ops(txnOp(&pb.TxnRequest{Success: ops(putOp("a", "1"))}), txnOp(&pb.TxnRequest{Success: ops(delOp("a", ""))}))}, ErrDuplicateKey},
		{"nested delete, later nested put", &pb.TxnRequest{Success: ops(txnOp(&pb.TxnRequest{Success: ops(delOp("a", ""))}), txnOp(&pb.TxnRequest{Success: ops(putOp("a", "1"))}))}, ErrDuplicateKey},
		{"nested put in the failure branch duplicates outer put", &pb.TxnRequest{Success: ops(putOp("a", "1"), txnOp(&pb.TxnRequest{Failure: ops(putOp("a", "2"))}))}, ErrDuplicateKey},
		// Regression: a nested txn runs one branch only, so its branches may
		// write the same key, as etcd allows; these were refused.
		{"nested branches put the same key", &pb.TxnRequest{Success: ops(txnOp(&pb.TxnRequest{Success: ops(putOp("a", "1")), Failure: ops(putOp("a", "2"))}))}, nil},
		{"nested put in one branch, delete in the other", &pb.TxnRequest{Success: ops(txnOp(&pb.TxnRequest{Success: ops(putOp("a", "1")), Failure: ops(delOp("a", ""))}))}, nil},
		{"doubly nested branches put the same key", &pb.TxnRequest{Success: ops(txnOp(&pb.TxnRequest{Success: ops(txnOp(&pb.TxnRequest{Success: ops(putOp("a", "1")), Failure: ops(putOp("a", "2"))}))}))}, nil},
		{"duplicate inside a nested branch", &pb.TxnRequest{Success: ops(txnOp(&pb.TxnRequest{Failure: ops(putOp("a", "1"), putOp("a", "2"))}))}, ErrDuplicateKey},

		{"compare with no key", &pb.TxnRequest{Compare: []*pb.Compare{{Target: pb.Compare_VERSION}}}, ErrEmptyKey},
		{"compare with a bad result", &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a"), Result: 7}}}, ErrBadCompare},
		{"compare with a bad target", &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a"), Target: 7}}}, ErrBadCompare},
		{"compare target VALUE with a version", &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_VALUE, TargetUnion: &pb.Compare_Version{Version: 1}}}}, ErrBadCompare},
		{"compare target MOD with a create revision", &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_MOD, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 1}}}}, ErrBadCompare},
		{"compare target LEASE with a value", &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_LEASE, TargetUnion: &pb.Compare_Value{Value: []byte("x")}}}}, ErrBadCompare},
		{"compare target CREATE with a mod revision", &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_CREATE, TargetUnion: &pb.Compare_ModRevision{ModRevision: 1}}}}, ErrBadCompare},
		{"compare target VERSION with a lease", &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_VERSION, TargetUnion: &pb.Compare_Lease{Lease: 1}}}}, ErrBadCompare},
		{"nil compare", &pb.TxnRequest{Compare: []*pb.Compare{nil}}, ErrBadCompare},
		{"bad compare in a nested txn", &pb.TxnRequest{Failure: ops(txnOp(&pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a"), Result: 9}}}))}, ErrBadCompare},

		{"put with no key", &pb.TxnRequest{Success: ops(putOp("", "v"))}, ErrEmptyKey},
		{"delete with no key", &pb.TxnRequest{Failure: ops(delOp("", ""))}, ErrEmptyKey},
		{"range with no key", &pb.TxnRequest{Success: ops(getOp("", "z"))}, ErrEmptyKey},
		{"empty key in a nested txn", &pb.TxnRequest{Success: ops(txnOp(&pb.TxnRequest{Failure: ops(putOp("", "v"))}))}, ErrEmptyKey},
		// Regression: checked in every branch, taken or not, as etcd does;
		// they were checked only on the taken path.
		{"put with ignore_value and a value", &pb.TxnRequest{Failure: ops(badPut(&pb.PutRequest{Key: []byte("a"), IgnoreValue: true, Value: []byte("v")}))}, ErrValueProvided},
		{"put with ignore_lease and a lease", &pb.TxnRequest{Failure: ops(badPut(&pb.PutRequest{Key: []byte("a"), IgnoreLease: true, Lease: 3}))}, ErrLeaseProvided},
		{"range with a bad sort order", &pb.TxnRequest{Failure: ops(badRange(&pb.RangeRequest{Key: []byte("a"), SortOrder: 5}))}, ErrInvalidSort},
		{"range with a bad sort target", &pb.TxnRequest{Failure: ops(badRange(&pb.RangeRequest{Key: []byte("a"), SortTarget: 5}))}, ErrInvalidSort},

		{"nil op", &pb.TxnRequest{Success: []*pb.RequestOp{nil}}, ErrBadCompare},
		{"empty op", &pb.TxnRequest{Success: ops(&pb.RequestOp{})}, ErrBadCompare},
		{"nil put", &pb.TxnRequest{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestPut{}})}, ErrEmptyKey},
		{"nil nested txn", &pb.TxnRequest{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestTxn{}})}, ErrBadCompare},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateTxn(tt.txn, 0); !errors.Is(err, tt.want) {
				t.Fatalf("ValidateTxn: %v, want %v", err, tt.want)
			}
			// Txn applies the same checks, and a rejected txn changes nothing.
			s := txnFixture(t)
			h, rev := s.Hash(), s.Rev()
			_, err := s.Txn(tt.txn)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Txn: %v, want %v", err, tt.want)
			}
			if err != nil && (s.Hash() != h || s.Rev() != rev) {
				t.Errorf("rejected txn changed the store")
			}
		})
	}
}

func TestValidateTxnMaxOps(t *testing.T) {
	txn := &pb.TxnRequest{Success: ops(getOp("a", ""), getOp("b", ""), getOp("c", ""))}
	if err := ValidateTxn(txn, 2); !errors.Is(err, ErrTooManyOps) {
		t.Errorf("3 ops with a limit of 2: %v, want %v", err, ErrTooManyOps)
	}
	if err := ValidateTxn(txn, 3); err != nil {
		t.Errorf("3 ops with a limit of 3: %v", err)
	}
	// The nested txn gets 3 - 1 = 2.
	nested := &pb.TxnRequest{Success: ops(txnOp(&pb.TxnRequest{Success: ops(getOp("a", ""), getOp("b", ""))}))}
	if err := ValidateTxn(nested, 3); err != nil {
		t.Errorf("nested within budget: %v", err)
	}
	if err := ValidateTxn(nested, 2); !errors.Is(err, ErrTooManyOps) {
		t.Errorf("nested over budget: %v, want %v", err, ErrTooManyOps)
	}
}

// Regression: validating a nested txn visited its subtree twice per level, so
// the work doubled with every level of nesting and a small request could stall
// the leader.
func TestValidateTxnDeepNestingIsLinear(t *testing.T) {
	chain := func(depth int) *pb.TxnRequest {
		txn := &pb.TxnRequest{Success: ops(putOp("leaf", "v"))}
		for i := 0; i < depth; i++ {
			txn = &pb.TxnRequest{Compare: []*pb.Compare{cmpVersion("k", pb.Compare_EQUAL, 0)}, Success: ops(txnOp(txn))}
		}
		return txn
	}
	validate := func(txn *pb.TxnRequest) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- ValidateTxn(txn, 0) }()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatalf("ValidateTxn of a nested chain did not finish in 10s")
			return nil
		}
	}
	if err := validate(chain(100)); err != nil {
		t.Fatalf("100 levels: %v", err)
	}
	// Each level takes its op count out of its children's budget, as in
	// etcd, so nesting deeper than the op limit is refused.
	if err := validate(chain(DefaultMaxTxnOps + 1)); !errors.Is(err, ErrTooManyOps) {
		t.Fatalf("%d levels: %v, want %v", DefaultMaxTxnOps+1, err, ErrTooManyOps)
	}
	s := New(0)
	if _, err := s.Txn(chain(100)); err != nil {
		t.Fatalf("Txn of 100 levels: %v", err)
	}
	if _, ok := get(t, s, "leaf"); !ok {
		t.Errorf("innermost put did not run")
	}
}

func TestTxnUnknownLeaseAppliesNothing(t *testing.T) {
	s := txnFixture(t)
	h, rev, size := s.Hash(), s.Rev(), s.Size()
	txn := &pb.TxnRequest{Success: ops(
		putOp("a", "1"),
		delOp("j", ""),
		putOpReq(&pb.PutRequest{Key: []byte("b"), Value: []byte("x"), Lease: 404}),
	)}
	if _, err := s.Txn(txn); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("Txn: %v, want %v", err, ErrLeaseNotFound)
	}
	// Same when the bad put is in a nested txn on the taken path.
	nested := &pb.TxnRequest{Success: ops(putOp("a", "1"), txnOp(&pb.TxnRequest{Failure: ops(putOpReq(&pb.PutRequest{Key: []byte("b"), Lease: 404}))}))}
	nested.Success[1].GetRequestTxn().Compare = []*pb.Compare{cmpValue("missing", pb.Compare_EQUAL, "")}
	if _, err := s.Txn(nested); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("nested Txn: %v, want %v", err, ErrLeaseNotFound)
	}
	// And for ignore_value on a key that does not exist.
	iv := &pb.TxnRequest{Success: ops(putOp("a", "1"), putOpReq(&pb.PutRequest{Key: []byte("missing"), IgnoreValue: true}))}
	if _, err := s.Txn(iv); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("ignore_value Txn: %v, want %v", err, ErrKeyNotFound)
	}
	if s.Hash() != h || s.Rev() != rev || s.Size() != size {
		t.Fatalf("rejected txns changed the store: rev %d -> %d", rev, s.Rev())
	}
	if _, ok := get(t, s, "a"); ok {
		t.Errorf("put from a rejected txn is visible")
	}
	if _, ok := get(t, s, "j"); !ok {
		t.Errorf("delete from a rejected txn applied")
	}
	if evs, _, _ := s.EventsFrom(rev+1, 0); len(evs) != 0 {
		t.Errorf("rejected txn left events: %s", evsString(evs))
	}
	// The same put on the branch not taken is fine.
	ok := mustTxn(t, s, &pb.TxnRequest{
		Compare: []*pb.Compare{cmpValue("k", pb.Compare_EQUAL, "v")},
		Success: ops(putOp("a", "1")),
		Failure: ops(putOpReq(&pb.PutRequest{Key: []byte("b"), Lease: 404})),
	})
	if !ok.Succeeded || s.Rev() != rev+1 {
		t.Errorf("txn with an unknown lease on the untaken branch: succeeded %v, rev %d", ok.Succeeded, s.Rev())
	}
}

func TestTxnLeaseAttach(t *testing.T) {
	s := txnFixture(t)
	mustTxn(t, s, &pb.TxnRequest{Success: ops(putOpReq(&pb.PutRequest{Key: []byte("j"), Value: []byte("x"), Lease: 5}), putOp("k", "no lease"))})
	l, _ := s.Lease(5)
	if got := strings.Join(l.Keys(), ","); got != "j" {
		t.Errorf("lease 5 keys = %q, want j", got)
	}
}
