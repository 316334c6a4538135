package mvcc

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestEmptyStoreIsAtRevisionOne(t *testing.T) {
	s := New(0)
	if got := s.Rev(); got != 1 {
		t.Fatalf("Rev() = %d, want 1", got)
	}
	if got := s.CompactRev(); got != 0 {
		t.Errorf("CompactRev() = %d, want 0", got)
	}
	if got := s.Quota(); got != DefaultQuotaBytes {
		t.Errorf("Quota() = %d, want %d", got, DefaultQuotaBytes)
	}
	resp := mustRange(t, s, &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}})
	if len(resp.Kvs) != 0 || resp.Count != 0 || resp.Header.Revision != 1 {
		t.Errorf("Range on empty store = %d kvs, count %d, rev %d; want 0, 0, 1", len(resp.Kvs), resp.Count, resp.Header.Revision)
	}
}

func TestPutRevisions(t *testing.T) {
	s := New(0)
	if rev := mustPut(t, s, "a", "1"); rev != 2 {
		t.Fatalf("first put: revision %d, want 2", rev)
	}
	checkKV(t, mustGet(t, s, "a"), &mvccpb.KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 2, Version: 1})

	if rev := mustPut(t, s, "b", "1"); rev != 3 {
		t.Fatalf("second put: revision %d, want 3", rev)
	}
	if rev := mustPut(t, s, "a", "2"); rev != 4 {
		t.Fatalf("third put: revision %d, want 4", rev)
	}
	// create_revision kept, version+1, mod_revision = the new revision.
	checkKV(t, mustGet(t, s, "a"), &mvccpb.KeyValue{Key: []byte("a"), Value: []byte("2"), CreateRevision: 2, ModRevision: 4, Version: 2})
	checkKV(t, mustGet(t, s, "b"), &mvccpb.KeyValue{Key: []byte("b"), Value: []byte("1"), CreateRevision: 3, ModRevision: 3, Version: 1})
	if got := s.Rev(); got != 4 {
		t.Errorf("Rev() = %d, want 4", got)
	}
}

func TestTxnIsOneRevision(t *testing.T) {
	s := New(0)
	mustPut(t, s, "a", "0")
	resp := mustTxn(t, s, &pb.TxnRequest{Success: ops(putOp("a", "1"), putOp("b", "1"), putOp("c", "1"), delOp("z", ""))})
	if resp.Header.Revision != 3 || s.Rev() != 3 {
		t.Fatalf("txn with three puts: header revision %d, Rev() %d; want 3, 3", resp.Header.Revision, s.Rev())
	}
	for _, r := range resp.Responses {
		if p := r.GetResponsePut(); p != nil && p.Header.Revision != 3 {
			t.Errorf("put response revision %d, want 3", p.Header.Revision)
		}
	}
	checkKV(t, mustGet(t, s, "a"), &mvccpb.KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 3, Version: 2})
	checkKV(t, mustGet(t, s, "c"), &mvccpb.KeyValue{Key: []byte("c"), Value: []byte("1"), CreateRevision: 3, ModRevision: 3, Version: 1})

	// The writes have increasing sub-revisions: the watch feed lists them in
	// request order.
	evs, _, err := s.EventsFrom(3, 0)
	if err != nil {
		t.Fatalf("EventsFrom(3): %v", err)
	}
	if got := keysOfEvents(evs); len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Errorf("events of the txn are for keys %q, want [a b c]", got)
	}
}

func keysOfEvents(evs []*mvccpb.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = string(ev.Kv.Key)
	}
	return out
}

func TestNoWriteNoRevision(t *testing.T) {
	s := New(0)
	mustPut(t, s, "a", "1")
	tests := []struct {
		name string
		run  func() (int64, error)
	}{
		{"delete of a missing key", func() (int64, error) {
			r, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("missing")})
			if err != nil {
				return 0, err
			}
			return r.Header.Revision, nil
		}},
		{"delete of an empty range", func() (int64, error) {
			r, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("b"), RangeEnd: []byte("c")})
			if err != nil {
				return 0, err
			}
			return r.Header.Revision, nil
		}},
		{"read-only txn", func() (int64, error) {
			r, err := s.Txn(&pb.TxnRequest{Success: ops(getOp("a", ""))})
			if err != nil {
				return 0, err
			}
			return r.Header.Revision, nil
		}},
		{"txn deleting nothing", func() (int64, error) {
			r, err := s.Txn(&pb.TxnRequest{Success: ops(delOp("x", "y"), getOp("a", ""))})
			if err != nil {
				return 0, err
			}
			return r.Header.Revision, nil
		}},
		{"txn whose failed branch is empty", func() (int64, error) {
			r, err := s.Txn(&pb.TxnRequest{Compare: []*pb.Compare{cmpValue("a", pb.Compare_EQUAL, "nope")}, Success: ops(putOp("a", "x"))})
			if err != nil {
				return 0, err
			}
			return r.Header.Revision, nil
		}},
		{"revoke of a lease without keys", func() (int64, error) {
			if err := s.LeaseGrant(7, 10); err != nil {
				return 0, err
			}
			return s.LeaseRevoke(7)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := s.Hash()
			rev, err := tt.run()
			if err != nil {
				t.Fatalf("%v", err)
			}
			if rev != 2 || s.Rev() != 2 {
				t.Errorf("header revision %d, Rev() %d; want 2, 2", rev, s.Rev())
			}
			if s.Hash() != h {
				t.Errorf("state changed")
			}
		})
	}
	if evs, _, _ := s.EventsFrom(3, 0); len(evs) != 0 {
		t.Errorf("EventsFrom(3) = %d events, want none", len(evs))
	}
}

func TestDeleteAndRecreate(t *testing.T) {
	s := New(0)
	mustPut(t, s, "k", "1") // 2
	mustPut(t, s, "k", "2") // 3
	del := mustDelete(t, s, "k", "")
	if del.Deleted != 1 || del.Header.Revision != 4 {
		t.Fatalf("delete: deleted %d at %d, want 1 at 4", del.Deleted, del.Header.Revision)
	}
	if len(del.PrevKvs) != 1 {
		t.Fatalf("delete: %d prev kvs, want 1", len(del.PrevKvs))
	}
	checkKV(t, del.PrevKvs[0], &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("2"), CreateRevision: 2, ModRevision: 3, Version: 2})
	if _, ok := get(t, s, "k"); ok {
		t.Fatalf("deleted key still visible")
	}
	// The tombstone is a version: the key is still in the store, and visible
	// at earlier revisions.
	if s.KeyCount() != 1 {
		t.Errorf("KeyCount() = %d, want 1 (tombstoned key)", s.KeyCount())
	}
	old, ok := getAt(t, s, "k", 3)
	if !ok {
		t.Fatalf("k not visible at revision 3")
	}
	checkKV(t, old, &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("2"), CreateRevision: 2, ModRevision: 3, Version: 2})
	evs, _, err := s.EventsFrom(4, 0)
	if err != nil || len(evs) != 1 {
		t.Fatalf("EventsFrom(4) = %d events, %v; want 1", len(evs), err)
	}
	if evs[0].Type != mvccpb.DELETE {
		t.Errorf("event type %v, want DELETE", evs[0].Type)
	}
	checkKV(t, evs[0].Kv, &mvccpb.KeyValue{Key: []byte("k"), ModRevision: 4})

	// Re-create: version back to 1, create revision the new one.
	if rev := mustPut(t, s, "k", "3"); rev != 5 {
		t.Fatalf("re-create at %d, want 5", rev)
	}
	checkKV(t, mustGet(t, s, "k"), &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("3"), CreateRevision: 5, ModRevision: 5, Version: 1})
	// A delete of a tombstoned key writes nothing.
	mustDelete(t, s, "k", "")
	if del := mustDelete(t, s, "k", ""); del.Deleted != 0 || del.Header.Revision != 6 {
		t.Errorf("second delete: deleted %d at %d, want 0 at 6", del.Deleted, del.Header.Revision)
	}
}

func TestDeleteRangeOrderAndCount(t *testing.T) {
	s := New(0)
	for _, k := range []string{"a", "b1", "b2", "b3", "c"} {
		mustPut(t, s, k, "v")
	}
	del := mustDelete(t, s, "b", "c")
	if del.Deleted != 3 || del.Header.Revision != 7 {
		t.Fatalf("deleted %d at %d, want 3 at 7", del.Deleted, del.Header.Revision)
	}
	if got := keysOf(del.PrevKvs); len(got) != 3 || got[0] != "b1" || got[2] != "b3" {
		t.Errorf("prev kvs %q, want [b1 b2 b3]", got)
	}
	resp := mustRange(t, s, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if got := keysOf(resp.Kvs); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Errorf("keys after delete %q, want [a c]", got)
	}
	// Without prev_kv the response carries none.
	r, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("a")})
	if err != nil || r.Deleted != 1 || r.PrevKvs != nil {
		t.Errorf("delete without prev_kv = deleted %d, prev %d, %v; want 1, none, nil", r.GetDeleted(), len(r.GetPrevKvs()), err)
	}
	if _, err := s.DeleteRange(&pb.DeleteRangeRequest{}); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("delete with no key: %v, want %v", err, ErrEmptyKey)
	}
	// From-key delete.
	mustPut(t, s, "d", "v")
	if del := mustDelete(t, s, "c", "\x00"); del.Deleted != 2 {
		t.Errorf("from-key delete removed %d keys, want 2", del.Deleted)
	}
}
