package mvcc

import (
	"errors"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// rangeFixture builds a store whose state at revision 7 is
//
//	a = "1"  create 2 mod 2 version 1
//	b = "22" create 3 mod 5 version 2
//	d = "0"  create 6 mod 6 version 1
//
// with c (create 4) deleted at 7; at revision 4 it held a, b = "2", c = "3".
func rangeFixture(t *testing.T) *Store {
	t.Helper()
	s := New(0)
	mustPut(t, s, "a", "1")   // 2
	mustPut(t, s, "b", "2")   // 3
	mustPut(t, s, "c", "3")   // 4
	mustPut(t, s, "b", "22")  // 5
	mustPut(t, s, "d", "0")   // 6
	mustDelete(t, s, "c", "") // 7
	if s.Rev() != 7 {
		t.Fatalf("fixture at revision %d, want 7", s.Rev())
	}
	return s
}

func TestRange(t *testing.T) {
	s := rangeFixture(t)
	all := func(r *pb.RangeRequest) *pb.RangeRequest {
		r.Key, r.RangeEnd = []byte{0}, []byte{0}
		return r
	}
	tests := []struct {
		name      string
		req       *pb.RangeRequest
		wantKeys  []string
		wantCount int64
		wantMore  bool
	}{
		{"single key", &pb.RangeRequest{Key: []byte("a")}, []string{"a"}, 1, false},
		{"missing key", &pb.RangeRequest{Key: []byte("c")}, nil, 0, false},
		{"prefix range", &pb.RangeRequest{Key: []byte("b"), RangeEnd: []byte("c")}, []string{"b"}, 1, false},
		{"interval end is exclusive", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("d")}, []string{"a", "b"}, 2, false},
		{"end before start", &pb.RangeRequest{Key: []byte("d"), RangeEnd: []byte("a")}, nil, 0, false},
		{"from key", &pb.RangeRequest{Key: []byte("b"), RangeEnd: []byte{0}}, []string{"b", "d"}, 2, false},
		{"everything", all(&pb.RangeRequest{}), []string{"a", "b", "d"}, 3, false},
		{"limit 1", all(&pb.RangeRequest{Limit: 1}), []string{"a"}, 3, true},
		{"limit 2", all(&pb.RangeRequest{Limit: 2}), []string{"a", "b"}, 3, true},
		{"limit equal to count", all(&pb.RangeRequest{Limit: 3}), []string{"a", "b", "d"}, 3, false},
		{"limit above count", all(&pb.RangeRequest{Limit: 10}), []string{"a", "b", "d"}, 3, false},
		// Regression: a negative limit returned no keys; etcd treats any
		// limit <= 0 as no limit.
		{"negative limit means none", all(&pb.RangeRequest{Limit: -1}), []string{"a", "b", "d"}, 3, false},
		{"count only", all(&pb.RangeRequest{CountOnly: true}), nil, 3, false},
		{"count only with limit", all(&pb.RangeRequest{CountOnly: true, Limit: 1}), nil, 3, false},
		{"at revision 4", all(&pb.RangeRequest{Revision: 4}), []string{"a", "b", "c"}, 3, false},
		{"at revision 1", all(&pb.RangeRequest{Revision: 1}), nil, 0, false},
		{"at the current revision", all(&pb.RangeRequest{Revision: 7}), []string{"a", "b", "d"}, 3, false},
		{"at revision 4 with limit", all(&pb.RangeRequest{Revision: 4, Limit: 2}), []string{"a", "b"}, 3, true},

		{"sort key ascend", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_KEY, SortOrder: pb.RangeRequest_ASCEND}), []string{"a", "b", "d"}, 3, false},
		{"sort key descend", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_KEY, SortOrder: pb.RangeRequest_DESCEND}), []string{"d", "b", "a"}, 3, false},
		{"sort value with no order ascends", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_VALUE}), []string{"d", "a", "b"}, 3, false},
		{"sort value ascend", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_ASCEND}), []string{"d", "a", "b"}, 3, false},
		{"sort value descend", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_DESCEND}), []string{"b", "a", "d"}, 3, false},
		{"sort version descend, ties in key order", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_VERSION, SortOrder: pb.RangeRequest_DESCEND}), []string{"b", "a", "d"}, 3, false},
		{"sort create descend", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_CREATE, SortOrder: pb.RangeRequest_DESCEND}), []string{"d", "b", "a"}, 3, false},
		{"sort mod with no order ascends", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_MOD}), []string{"a", "b", "d"}, 3, false},
		{"sort mod descend", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_MOD, SortOrder: pb.RangeRequest_DESCEND}), []string{"d", "b", "a"}, 3, false},
		{"sort then limit", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_VALUE, Limit: 2}), []string{"d", "a"}, 3, true},
		{"sort descend then limit", all(&pb.RangeRequest{SortOrder: pb.RangeRequest_DESCEND, Limit: 1}), []string{"d"}, 3, true},

		{"min mod revision", all(&pb.RangeRequest{MinModRevision: 5}), []string{"b", "d"}, 3, false},
		{"max mod revision", all(&pb.RangeRequest{MaxModRevision: 4}), []string{"a"}, 3, false},
		{"min create revision", all(&pb.RangeRequest{MinCreateRevision: 3}), []string{"b", "d"}, 3, false},
		{"max create revision", all(&pb.RangeRequest{MaxCreateRevision: 3}), []string{"a", "b"}, 3, false},
		{"mod window", all(&pb.RangeRequest{MinModRevision: 3, MaxModRevision: 5}), []string{"b"}, 3, false},
		{"filter then limit", all(&pb.RangeRequest{MinModRevision: 3, Limit: 1}), []string{"b"}, 3, true},
		{"filter then limit, nothing more", all(&pb.RangeRequest{MinModRevision: 6, Limit: 1}), []string{"d"}, 3, false},
		{"filter at a past revision", all(&pb.RangeRequest{Revision: 4, MinCreateRevision: 4}), []string{"c"}, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := mustRange(t, s, tt.req)
			if got := keysOf(resp.Kvs); !slices.Equal(got, tt.wantKeys) {
				t.Errorf("keys = %q, want %q", got, tt.wantKeys)
			}
			if resp.Count != tt.wantCount {
				t.Errorf("count = %d, want %d", resp.Count, tt.wantCount)
			}
			if resp.More != tt.wantMore {
				t.Errorf("more = %v, want %v", resp.More, tt.wantMore)
			}
			if resp.Header.GetRevision() != 7 {
				t.Errorf("header revision = %d, want 7 (the current one)", resp.Header.GetRevision())
			}
		})
	}
}

func TestRangeValuesAtPastRevision(t *testing.T) {
	s := rangeFixture(t)
	resp := mustRange(t, s, &pb.RangeRequest{Key: []byte("b"), Revision: 4})
	if len(resp.Kvs) != 1 {
		t.Fatalf("b at 4: %d kvs, want 1", len(resp.Kvs))
	}
	checkKV(t, resp.Kvs[0], &mvccpb.KeyValue{Key: []byte("b"), Value: []byte("2"), CreateRevision: 3, ModRevision: 3, Version: 1})
	checkKV(t, mustGet(t, s, "b"), &mvccpb.KeyValue{Key: []byte("b"), Value: []byte("22"), CreateRevision: 3, ModRevision: 5, Version: 2})
	// A revision between two versions sees the older one.
	if kv, _ := getAt(t, s, "b", 4); kv.ModRevision != 3 {
		t.Errorf("b at 4 has mod revision %d, want 3", kv.ModRevision)
	}
	if _, ok := getAt(t, s, "c", 6); !ok {
		t.Errorf("c not visible at 6, before its delete")
	}
	if _, ok := getAt(t, s, "c", 7); ok {
		t.Errorf("c visible at 7, its delete revision")
	}
}

func TestRangeKeysOnlyDoesNotModifyStore(t *testing.T) {
	s := rangeFixture(t)
	before := mustGet(t, s, "b")
	resp := mustRange(t, s, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, KeysOnly: true})
	if len(resp.Kvs) != 3 {
		t.Fatalf("keys only: %d kvs, want 3", len(resp.Kvs))
	}
	for _, kv := range resp.Kvs {
		if kv.Value != nil {
			t.Errorf("keys only: %q has value %q", kv.Key, kv.Value)
		}
		if kv.ModRevision == 0 || kv.Version == 0 || kv.CreateRevision == 0 {
			t.Errorf("keys only: %s lost its revisions", kvString(kv))
		}
	}
	checkKV(t, resp.Kvs[1], &mvccpb.KeyValue{Key: []byte("b"), CreateRevision: 3, ModRevision: 5, Version: 2})
	// The store's own KeyValues still have their values.
	if string(before.Value) != "22" {
		t.Errorf("kv read before keys-only range now has value %q, want %q", before.Value, "22")
	}
	checkKV(t, mustGet(t, s, "b"), &mvccpb.KeyValue{Key: []byte("b"), Value: []byte("22"), CreateRevision: 3, ModRevision: 5, Version: 2})
	evs, _, _ := s.EventsFrom(5, 1)
	if len(evs) != 1 || string(evs[0].Kv.Value) != "22" {
		t.Errorf("watch event of b lost its value: %s", evsString(evs))
	}
	// Same inside a transaction.
	txn := mustTxn(t, s, &pb.TxnRequest{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("b"), KeysOnly: true}}})})
	if kvs := txn.Responses[0].GetResponseRange().Kvs; len(kvs) != 1 || kvs[0].Value != nil {
		t.Errorf("keys only in txn: %d kvs, want 1 with no value", len(kvs))
	}
	checkKV(t, mustGet(t, s, "b"), &mvccpb.KeyValue{Key: []byte("b"), Value: []byte("22"), CreateRevision: 3, ModRevision: 5, Version: 2})
}

func TestRangeErrors(t *testing.T) {
	s := rangeFixture(t)
	if err := s.Compact(4); err != nil {
		t.Fatalf("Compact(4): %v", err)
	}
	tests := []struct {
		name string
		req  *pb.RangeRequest
		want error
	}{
		{"empty key", &pb.RangeRequest{}, ErrEmptyKey},
		{"empty key with end", &pb.RangeRequest{RangeEnd: []byte("z")}, ErrEmptyKey},
		{"below the compacted revision", &pb.RangeRequest{Key: []byte("a"), Revision: 3}, ErrCompacted},
		{"far below the compacted revision", &pb.RangeRequest{Key: []byte("a"), Revision: 1}, ErrCompacted},
		{"future revision", &pb.RangeRequest{Key: []byte("a"), Revision: 8}, ErrFutureRev},
		{"bad sort order", &pb.RangeRequest{Key: []byte("a"), SortOrder: 9}, ErrInvalidSort},
		{"bad sort target", &pb.RangeRequest{Key: []byte("a"), SortTarget: 9}, ErrInvalidSort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.Range(tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Range: %v, want %v", err, tt.want)
			}
			if resp != nil {
				t.Errorf("Range returned a response with error %v", err)
			}
		})
	}
	// At the compacted revision itself reads still work.
	if resp := mustRange(t, s, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: 4}); !slices.Equal(keysOf(resp.Kvs), []string{"a", "b", "c"}) {
		t.Errorf("at the compacted revision: keys %q, want [a b c]", keysOf(resp.Kvs))
	}
}
