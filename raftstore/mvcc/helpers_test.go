package mvcc

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// Helpers shared by the tests of this package. Assertions are plain
// t.Fatalf/t.Errorf with got/want; protobuf values are compared with
// proto.Equal and printed in a short form.

func mustPut(t *testing.T, s *Store, key, value string) int64 {
	t.Helper()
	return mustPutReq(t, s, &pb.PutRequest{Key: []byte(key), Value: []byte(value)}).Header.Revision
}

func mustPutLease(t *testing.T, s *Store, key, value string, lease int64) int64 {
	t.Helper()
	return mustPutReq(t, s, &pb.PutRequest{Key: []byte(key), Value: []byte(value), Lease: lease}).Header.Revision
}

func mustPutReq(t *testing.T, s *Store, req *pb.PutRequest) *pb.PutResponse {
	t.Helper()
	resp, err := s.Put(req)
	if err != nil {
		t.Fatalf("Put(%q): %v", req.Key, err)
	}
	return resp
}

func mustDelete(t *testing.T, s *Store, key, end string) *pb.DeleteRangeResponse {
	t.Helper()
	req := &pb.DeleteRangeRequest{Key: []byte(key), PrevKv: true}
	if end != "" {
		req.RangeEnd = []byte(end)
	}
	resp, err := s.DeleteRange(req)
	if err != nil {
		t.Fatalf("DeleteRange(%q, %q): %v", key, end, err)
	}
	return resp
}

func mustTxn(t *testing.T, s *Store, req *pb.TxnRequest) *pb.TxnResponse {
	t.Helper()
	resp, err := s.Txn(req)
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	return resp
}

func mustRange(t *testing.T, s *Store, req *pb.RangeRequest) *pb.RangeResponse {
	t.Helper()
	resp, err := s.Range(req)
	if err != nil {
		t.Fatalf("Range(%q, %q, rev %d): %v", req.Key, req.RangeEnd, req.Revision, err)
	}
	return resp
}

// get reads one key now; ok is false if it is not live.
func get(t *testing.T, s *Store, key string) (*mvccpb.KeyValue, bool) {
	t.Helper()
	return getAt(t, s, key, 0)
}

func getAt(t *testing.T, s *Store, key string, rev int64) (*mvccpb.KeyValue, bool) {
	t.Helper()
	resp := mustRange(t, s, &pb.RangeRequest{Key: []byte(key), Revision: rev})
	switch len(resp.Kvs) {
	case 0:
		return nil, false
	case 1:
		return resp.Kvs[0], true
	}
	t.Fatalf("Range(%q) at %d: %d kvs for one key", key, rev, len(resp.Kvs))
	return nil, false
}

func mustGet(t *testing.T, s *Store, key string) *mvccpb.KeyValue {
	t.Helper()
	kv, ok := get(t, s, key)
	if !ok {
		t.Fatalf("key %q: not found", key)
	}
	return kv
}

// keysOf lists the keys of kvs, for compact messages.
func keysOf(kvs []*mvccpb.KeyValue) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = string(kv.Key)
	}
	return out
}

// kvString is a short form of a KeyValue for messages.
func kvString(kv *mvccpb.KeyValue) string {
	if kv == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{%q=%q create=%d mod=%d ver=%d lease=%d}", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
}

func evString(ev *mvccpb.Event) string {
	return fmt.Sprintf("%s %s prev=%s", ev.Type, kvString(ev.Kv), kvString(ev.PrevKv))
}

func evsString(evs []*mvccpb.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("\n\t")
		b.WriteString(evString(ev))
	}
	return b.String()
}

// checkKV fails unless kv has the given fields (Value compared as bytes).
func checkKV(t *testing.T, kv *mvccpb.KeyValue, want *mvccpb.KeyValue) {
	t.Helper()
	if !proto.Equal(kv, want) {
		t.Errorf("kv = %s, want %s", kvString(kv), kvString(want))
	}
}

// equalEvents compares two event lists field by field.
func equalEvents(a, b []*mvccpb.Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || !proto.Equal(a[i].Kv, b[i].Kv) || !proto.Equal(a[i].PrevKv, b[i].PrevKv) {
			return false
		}
	}
	return true
}

// encode writes a frozen copy of s and returns the bytes.
func encode(t testing.TB, s *Store) []byte {
	t.Helper()
	return encodeFrozen(t, s.Freeze())
}

func encodeFrozen(t testing.TB, f *Frozen) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := f.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes()
}

// roundTrip encodes s and decodes it into a new store with the same quota.
func roundTrip(t testing.TB, s *Store) *Store {
	t.Helper()
	out, err := Decode(bytes.NewReader(encode(t, s)), s.Quota())
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return out
}

// checkSameState fails unless a and b agree on everything a reader can see:
// hash, revisions, size, leases, the range of all keys at every retained
// revision, and the watch feed from every retained revision.
func checkSameState(t *testing.T, a, b *Store) {
	t.Helper()
	if a.Hash() != b.Hash() {
		t.Fatalf("Hash() = %x and %x", a.Hash(), b.Hash())
	}
	if a.Rev() != b.Rev() || a.CompactRev() != b.CompactRev() {
		t.Fatalf("Rev/CompactRev = %d/%d and %d/%d", a.Rev(), a.CompactRev(), b.Rev(), b.CompactRev())
	}
	if a.Size() != b.Size() {
		t.Errorf("Size() = %d and %d", a.Size(), b.Size())
	}
	if a.KeyCount() != b.KeyCount() {
		t.Errorf("KeyCount() = %d and %d", a.KeyCount(), b.KeyCount())
	}
	la, lb := a.Leases(), b.Leases()
	if len(la) != len(lb) {
		t.Fatalf("%d and %d leases", len(la), len(lb))
	}
	for i := range la {
		if la[i].ID != lb[i].ID || la[i].TTL != lb[i].TTL || strings.Join(la[i].Keys(), ",") != strings.Join(lb[i].Keys(), ",") {
			t.Errorf("lease %d: {%d %d %q} and {%d %d %q}", i, la[i].ID, la[i].TTL, la[i].Keys(), lb[i].ID, lb[i].TTL, lb[i].Keys())
		}
	}
	for rev := max(a.CompactRev(), 1); rev <= a.Rev(); rev++ {
		req := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev}
		ra, rb := mustRange(t, a, req), mustRange(t, b, req)
		if !proto.Equal(ra, rb) {
			t.Errorf("Range at %d:\n%v\nand\n%v", rev, ra, rb)
		}
	}
	for rev := a.CompactRev(); rev <= a.Rev()+1; rev++ {
		ea, na, erra := a.EventsFrom(rev, 0)
		eb, nb, errb := b.EventsFrom(rev, 0)
		if erra != errb || na != nb || !equalEvents(ea, eb) {
			t.Errorf("EventsFrom(%d) = %d, %v:%s\nand %d, %v:%s", rev, na, erra, evsString(ea), nb, errb, evsString(eb))
		}
	}
}

// Builders for transactions.

func putOp(key, value string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}}}
}

func putOpReq(req *pb.PutRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: req}}
}

func delOp(key, end string) *pb.RequestOp {
	req := &pb.DeleteRangeRequest{Key: []byte(key)}
	if end != "" {
		req.RangeEnd = []byte(end)
	}
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: req}}
}

func getOp(key, end string) *pb.RequestOp {
	req := &pb.RangeRequest{Key: []byte(key)}
	if end != "" {
		req.RangeEnd = []byte(end)
	}
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: req}}
}

func txnOp(txn *pb.TxnRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: txn}}
}

func ops(o ...*pb.RequestOp) []*pb.RequestOp { return o }

func cmpValue(key string, r pb.Compare_CompareResult, v string) *pb.Compare {
	return &pb.Compare{Key: []byte(key), Target: pb.Compare_VALUE, Result: r, TargetUnion: &pb.Compare_Value{Value: []byte(v)}}
}

func cmpVersion(key string, r pb.Compare_CompareResult, v int64) *pb.Compare {
	return &pb.Compare{Key: []byte(key), Target: pb.Compare_VERSION, Result: r, TargetUnion: &pb.Compare_Version{Version: v}}
}

func cmpCreate(key string, r pb.Compare_CompareResult, v int64) *pb.Compare {
	return &pb.Compare{Key: []byte(key), Target: pb.Compare_CREATE, Result: r, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: v}}
}

func cmpMod(key string, r pb.Compare_CompareResult, v int64) *pb.Compare {
	return &pb.Compare{Key: []byte(key), Target: pb.Compare_MOD, Result: r, TargetUnion: &pb.Compare_ModRevision{ModRevision: v}}
}

func cmpLease(key string, r pb.Compare_CompareResult, v int64) *pb.Compare {
	return &pb.Compare{Key: []byte(key), Target: pb.Compare_LEASE, Result: r, TargetUnion: &pb.Compare_Lease{Lease: v}}
}
