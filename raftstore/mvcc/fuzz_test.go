package mvcc

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// FuzzDecode feeds arbitrary bytes to Decode: it must never panic, must fail
// only with ErrCorrupt, and whatever it accepts must re-encode to exactly the
// same bytes and be a usable store.
func FuzzDecode(f *testing.F) {
	var valid [][]byte
	valid = append(valid, encode(f, New(0)))
	for _, compactAt := range []int64{0, 6, 13} {
		valid = append(valid, encode(f, richStore(f, compactAt)))
	}
	s := New(0)
	for _, op := range randOps(3, 120) {
		_, _ = op.apply(s)
	}
	valid = append(valid, encode(f, s))
	for _, b := range valid {
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-1])
		f.Add(b[:len(snapshotMagic)+2])
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 4; i++ {
		b := make([]byte, 8+r.IntN(64))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		f.Add(b)
		f.Add(append([]byte(snapshotMagic), b...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(bytes.NewReader(data), 1<<20)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode failed with %v, want %v", err, ErrCorrupt)
			}
			if s != nil {
				t.Fatalf("Decode returned a store with error %v", err)
			}
			return
		}
		if got := encode(t, s); !bytes.Equal(got, data) {
			t.Fatalf("accepted input re-encodes differently:\n in  %x\n out %x", data, got)
		}
		// The store is usable: reads at every retained revision, the watch
		// feed, and writes.
		for rev := max(s.CompactRev(), 1); rev <= s.Rev(); rev++ {
			if _, err := s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev}); err != nil {
				t.Fatalf("Range at %d: %v", rev, err)
			}
		}
		if _, _, err := s.EventsFrom(s.CompactRev(), 0); err != nil {
			t.Fatalf("EventsFrom(%d): %v", s.CompactRev(), err)
		}
		for _, l := range s.Leases() {
			if _, err := s.LeaseRevoke(l.ID); err != nil {
				t.Fatalf("LeaseRevoke(%d): %v", l.ID, err)
			}
		}
		if _, err := s.Put(&pb.PutRequest{Key: []byte("fuzz"), Value: []byte("v")}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}); err != nil {
			t.Fatalf("DeleteRange: %v", err)
		}
		if err := s.Compact(s.Rev()); err != nil {
			t.Fatalf("Compact: %v", err)
		}
	})
}

// fuzzTxnStore is a small store for FuzzValidateTxn: a few keys, a lease, a
// compaction.
func fuzzTxnStore(t *testing.T) *Store {
	t.Helper()
	s := New(1 << 16)
	if err := s.LeaseGrant(1, 60); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "a", "1")
	mustPutLease(t, s, "b", "2", 1)
	mustPut(t, s, "a", "3")
	mustDelete(t, s, "c", "")
	mustPut(t, s, "c", "4")
	if err := s.Compact(3); err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzValidateTxn unmarshals a TxnRequest from the fuzz bytes and runs it
// through ValidateTxn and Txn: no panics, Txn rejects whatever ValidateTxn
// rejects, a rejected txn leaves the store unchanged, and an accepted one
// moves it by at most one revision to a state that survives a snapshot.
func FuzzValidateTxn(f *testing.F) {
	seeds := []*pb.TxnRequest{
		{},
		{Compare: []*pb.Compare{cmpMod("a", pb.Compare_EQUAL, 4)}, Success: ops(putOp("a", "x")), Failure: ops(getOp("a", ""))},
		{Compare: []*pb.Compare{withEnd(cmpVersion("a", pb.Compare_GREATER, 0), "\x00")}, Success: ops(delOp("a", "c"), putOp("c", "x")), Failure: ops(putOp("a", "1"), putOp("a", "2"))},
		{Success: ops(putOp("a", "1"), txnOp(&pb.TxnRequest{Compare: []*pb.Compare{cmpLease("b", pb.Compare_EQUAL, 1)}, Success: ops(putOp("x", "1")), Failure: ops(putOp("x", "2"), delOp("y", "\x00"))}))},
		{Success: ops(putOpReq(&pb.PutRequest{Key: []byte("b"), IgnoreValue: true, Lease: 1}), putOpReq(&pb.PutRequest{Key: []byte("q"), Lease: 2}))},
		{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 3, SortTarget: pb.RangeRequest_VALUE, Limit: 1}}})},
		{Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_VALUE, TargetUnion: &pb.Compare_Version{Version: 1}}}},
	}
	for _, txn := range seeds {
		b, err := proto.Marshal(txn)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req pb.TxnRequest
		if err := proto.Unmarshal(data, &req); err != nil {
			return
		}
		s := fuzzTxnStore(t)
		h, rev := s.Hash(), s.Rev()
		verr := ValidateTxn(&req, 0)
		resp, err := s.Txn(&req)
		if verr != nil && !errors.Is(err, verr) {
			t.Fatalf("ValidateTxn: %v, but Txn: %v", verr, err)
		}
		if err != nil {
			if resp != nil {
				t.Fatalf("Txn returned a response with error %v", err)
			}
			if s.Hash() != h || s.Rev() != rev {
				t.Fatalf("rejected txn (%v) changed the store", err)
			}
			return
		}
		switch s.Rev() {
		case rev:
			if s.Hash() != h {
				t.Fatalf("txn changed the store without a new revision")
			}
		case rev + 1:
		default:
			t.Fatalf("txn moved the revision from %d to %d", rev, s.Rev())
		}
		if resp.Header.GetRevision() != s.Rev() {
			t.Fatalf("txn header revision %d, store at %d", resp.Header.GetRevision(), s.Rev())
		}
		checkInvariants(t, s)
		checkSameState(t, s, roundTrip(t, s))
	})
}
