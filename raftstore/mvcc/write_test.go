package mvcc

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestPutPrevKV(t *testing.T) {
	s := New(0)
	resp := mustPutReq(t, s, &pb.PutRequest{Key: []byte("k"), Value: []byte("1"), PrevKv: true})
	if resp.PrevKv != nil {
		t.Errorf("first put: prev kv %s, want none", kvString(resp.PrevKv))
	}
	resp = mustPutReq(t, s, &pb.PutRequest{Key: []byte("k"), Value: []byte("2"), PrevKv: true})
	checkKV(t, resp.PrevKv, &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("1"), CreateRevision: 2, ModRevision: 2, Version: 1})
	resp = mustPutReq(t, s, &pb.PutRequest{Key: []byte("k"), Value: []byte("3")})
	if resp.PrevKv != nil {
		t.Errorf("put without prev_kv returned %s", kvString(resp.PrevKv))
	}
	mustDelete(t, s, "k", "")
	resp = mustPutReq(t, s, &pb.PutRequest{Key: []byte("k"), Value: []byte("4"), PrevKv: true})
	if resp.PrevKv != nil {
		t.Errorf("put after delete: prev kv %s, want none", kvString(resp.PrevKv))
	}
}

func TestPutIgnoreValueAndLease(t *testing.T) {
	s := New(0)
	if err := s.LeaseGrant(1, 60); err != nil {
		t.Fatalf("LeaseGrant: %v", err)
	}
	if err := s.LeaseGrant(2, 60); err != nil {
		t.Fatalf("LeaseGrant: %v", err)
	}
	mustPutLease(t, s, "k", "v1", 1) // 2

	mustPutReq(t, s, &pb.PutRequest{Key: []byte("k"), IgnoreValue: true, Lease: 2}) // 3
	checkKV(t, mustGet(t, s, "k"), &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("v1"), CreateRevision: 2, ModRevision: 3, Version: 2, Lease: 2})

	mustPutReq(t, s, &pb.PutRequest{Key: []byte("k"), Value: []byte("v2"), IgnoreLease: true}) // 4
	checkKV(t, mustGet(t, s, "k"), &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("v2"), CreateRevision: 2, ModRevision: 4, Version: 3, Lease: 2})

	resp := mustPutReq(t, s, &pb.PutRequest{Key: []byte("k"), IgnoreValue: true, IgnoreLease: true, PrevKv: true}) // 5
	checkKV(t, resp.PrevKv, &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("v2"), CreateRevision: 2, ModRevision: 4, Version: 3, Lease: 2})
	checkKV(t, mustGet(t, s, "k"), &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("v2"), CreateRevision: 2, ModRevision: 5, Version: 4, Lease: 2})
	if l, _ := s.Lease(2); len(l.Keys()) != 1 {
		t.Errorf("lease 2 keys %q, want [k]", l.Keys())
	}
	if l, _ := s.Lease(1); len(l.Keys()) != 0 {
		t.Errorf("lease 1 keys %q, want none", l.Keys())
	}
}

func TestPutErrorsApplyNothing(t *testing.T) {
	s := New(0)
	if err := s.LeaseGrant(1, 60); err != nil {
		t.Fatalf("LeaseGrant: %v", err)
	}
	mustPut(t, s, "k", "v")
	mustPut(t, s, "gone", "v")
	mustDelete(t, s, "gone", "")
	tests := []struct {
		name string
		req  *pb.PutRequest
		want error
	}{
		{"empty key", &pb.PutRequest{Value: []byte("v")}, ErrEmptyKey},
		{"ignore value on a missing key", &pb.PutRequest{Key: []byte("missing"), IgnoreValue: true}, ErrKeyNotFound},
		{"ignore lease on a missing key", &pb.PutRequest{Key: []byte("missing"), IgnoreLease: true}, ErrKeyNotFound},
		{"ignore value on a deleted key", &pb.PutRequest{Key: []byte("gone"), IgnoreValue: true}, ErrKeyNotFound},
		{"ignore value with a value", &pb.PutRequest{Key: []byte("k"), IgnoreValue: true, Value: []byte("x")}, ErrValueProvided},
		{"ignore lease with a lease", &pb.PutRequest{Key: []byte("k"), IgnoreLease: true, Lease: 1}, ErrLeaseProvided},
		{"unknown lease", &pb.PutRequest{Key: []byte("k"), Value: []byte("x"), Lease: 99}, ErrLeaseNotFound},
		{"unknown lease on a new key", &pb.PutRequest{Key: []byte("new"), Value: []byte("x"), Lease: 99}, ErrLeaseNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rev, size := s.Hash(), s.Rev(), s.Size()
			resp, err := s.Put(tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Put: %v, want %v", err, tt.want)
			}
			if resp != nil {
				t.Errorf("Put returned a response with error %v", err)
			}
			if s.Hash() != h || s.Rev() != rev || s.Size() != size {
				t.Errorf("failed put changed the store: rev %d -> %d, size %d -> %d", rev, s.Rev(), size, s.Size())
			}
		})
	}
	if l, _ := s.Lease(1); len(l.Keys()) != 0 {
		t.Errorf("lease 1 gained keys %q", l.Keys())
	}
}

func TestQuota(t *testing.T) {
	const quota = 1024
	s := New(quota)
	value := string(make([]byte, 200))
	// Each put of k costs 1+200+64 = 265 bytes: three fit, the fourth does not.
	for i := 0; i < 3; i++ {
		mustPut(t, s, "k", value)
	}
	if got := s.Size(); got != 3*265 {
		t.Fatalf("Size() = %d, want %d", got, 3*265)
	}
	h, rev := s.Hash(), s.Rev()
	if _, err := s.Put(&pb.PutRequest{Key: []byte("k"), Value: []byte(value)}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("put over quota: %v, want %v", err, ErrNoSpace)
	}
	// A txn that would put is refused whole, even with a delete first.
	txn := &pb.TxnRequest{Success: ops(delOp("other", ""), putOp("k2", value))}
	if _, err := s.Txn(txn); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("txn over quota: %v, want %v", err, ErrNoSpace)
	}
	// So is a lease grant, which is charged too.
	s2 := New(versionOverhead)
	if err := s2.LeaseGrant(1, 10); err != nil {
		t.Fatalf("first lease grant: %v", err)
	}
	if err := s2.LeaseGrant(2, 10); !errors.Is(err, ErrNoSpace) {
		t.Errorf("lease grant over quota: %v, want %v", err, ErrNoSpace)
	}
	if s.Hash() != h || s.Rev() != rev || s.Size() != 3*265 {
		t.Fatalf("refused writes changed the store: rev %d -> %d, size %d", rev, s.Rev(), s.Size())
	}
	// Reads and a txn without puts still work.
	mustTxn(t, s, &pb.TxnRequest{Success: ops(getOp("k", ""), delOp("nothing", ""))})
	// Deletes still work, and add a tombstone.
	mustDelete(t, s, "k", "")
	if got := s.Size(); got != 3*265+1+versionOverhead {
		t.Fatalf("Size() after delete = %d, want %d", got, 3*265+1+versionOverhead)
	}
	if _, err := s.Put(&pb.PutRequest{Key: []byte("k"), Value: []byte(value)}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("put over quota after delete, before compact: %v, want %v", err, ErrNoSpace)
	}
	// Compaction frees the space: the same put now succeeds.
	if err := s.Compact(s.Rev()); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if got := s.Size(); got != 1+versionOverhead {
		t.Fatalf("Size() after compact = %d, want %d (the tombstone at the compacted revision)", got, 1+versionOverhead)
	}
	mustPut(t, s, "k", value)
	// SetQuota changes the limit but not the state.
	s.SetQuota(1 << 20)
	mustPut(t, s, "k", value)
	mustPut(t, s, "k", value)
	s.SetQuota(0)
	if s.Quota() != DefaultQuotaBytes {
		t.Errorf("SetQuota(0): Quota() = %d, want the default", s.Quota())
	}
}

func TestQuotaIgnoreValueChargesTheOldValue(t *testing.T) {
	s := New(0)
	mustPut(t, s, "k", "0123456789")
	before := s.Size()
	mustPutReq(t, s, &pb.PutRequest{Key: []byte("k"), IgnoreValue: true})
	if got, want := s.Size()-before, int64(1+10+versionOverhead); got != want {
		t.Errorf("ignore_value put grew Size() by %d, want %d", got, want)
	}
	s.SetQuota(s.Size() + 1 + versionOverhead + 5)
	if _, err := s.Put(&pb.PutRequest{Key: []byte("k"), IgnoreValue: true}); !errors.Is(err, ErrNoSpace) {
		t.Errorf("ignore_value put whose old value does not fit: %v, want %v", err, ErrNoSpace)
	}
}
