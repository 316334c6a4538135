package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// richStore builds a store with every kind of state: several versions,
// tombstones, re-created keys, a multi-write txn, leases with attached keys,
// a revoked lease, and optionally a compaction.
func richStore(t testing.TB, compactAt int64) *Store {
	t.Helper()
	s := New(0)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("building store: %v", err)
		}
	}
	must(s.LeaseGrant(10, 60))
	must(s.LeaseGrant(20, 30))
	must(s.LeaseGrant(30, 90))
	put := func(key, value string, lease int64) {
		t.Helper()
		_, err := s.Put(&pb.PutRequest{Key: []byte(key), Value: []byte(value), Lease: lease})
		must(err)
	}
	put("/a", "1", 0)                                                  // 2
	put("/b", "1", 10)                                                 // 3
	put("/a", "2", 0)                                                  // 4
	put("/c", "", 20)                                                  // 5
	_, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("/a")}) // 6
	must(err)
	_, err = s.Txn(&pb.TxnRequest{Success: ops(putOp("/d", "x"), putOp("/a", "3"), putOpReq(&pb.PutRequest{Key: []byte("/e"), Value: []byte("y"), Lease: 20}))}) // 7
	must(err)
	put("/b", "2", 0)          // 8
	put("/f", "z", 30)         // 9
	_, err = s.LeaseRevoke(20) // 10: /c and /e
	must(err)
	put("/d", "xx", 10)                                                                       // 11
	_, err = s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("/f"), RangeEnd: []byte("/g")}) // 12
	must(err)
	put("/g", "binary\x00\xff", 0) // 13
	if compactAt > 0 {
		must(s.Compact(compactAt))
	}
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, compactAt := range []int64{0, 1, 2, 5, 6, 7, 10, 12, 13} {
		s := richStore(t, compactAt)
		got := roundTrip(t, s)
		checkSameState(t, s, got)
		// The restored store goes on like the original.
		for _, st := range []*Store{s, got} {
			mustPut(t, st, "/a", "after")
			mustDelete(t, st, "/d", "")
			if _, err := st.LeaseRevoke(10); err != nil {
				t.Fatalf("LeaseRevoke(10): %v", err)
			}
		}
		checkSameState(t, s, got)
		if !bytes.Equal(encode(t, s), encode(t, got)) {
			t.Errorf("compact at %d: encodings differ after the same writes", compactAt)
		}
	}
}

func TestSnapshotEmptyStore(t *testing.T) {
	s := New(0)
	got := roundTrip(t, s)
	checkSameState(t, s, got)
	if got.Rev() != 1 {
		t.Errorf("restored empty store at revision %d, want 1", got.Rev())
	}
}

func TestSnapshotQuota(t *testing.T) {
	s := richStore(t, 0)
	out, err := Decode(bytes.NewReader(encode(t, s)), 12345)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if out.Quota() != 12345 {
		t.Errorf("Quota() = %d, want the one given to Decode", out.Quota())
	}
}

func TestFreezeIsIsolated(t *testing.T) {
	s := richStore(t, 0)
	f := s.Freeze()
	if f.Rev() != s.Rev() {
		t.Fatalf("Frozen.Rev() = %d, want %d", f.Rev(), s.Rev())
	}
	before := encodeFrozen(t, f)
	hash := f.Hash()
	// Write everything that could touch shared structure: new versions of
	// existing keys (append to their version slices), new keys, deletes,
	// lease grants and revokes, compaction.
	mustPut(t, s, "/a", "new")
	mustPut(t, s, "/a", "newer")
	mustPut(t, s, "/zz", "new")
	mustDelete(t, s, "/b", "")
	if err := s.LeaseGrant(99, 1); err != nil {
		t.Fatalf("LeaseGrant: %v", err)
	}
	if _, err := s.LeaseRevoke(30); err != nil {
		t.Fatalf("LeaseRevoke: %v", err)
	}
	if err := s.Compact(s.Rev()); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if after := encodeFrozen(t, f); !bytes.Equal(after, before) {
		t.Fatalf("writes after Freeze changed the frozen encoding")
	}
	if f.Hash() != hash {
		t.Errorf("writes after Freeze changed the frozen hash")
	}
	if s.Hash() == hash {
		t.Errorf("live store hash did not change with writes")
	}
	// The frozen copy decodes to the state at Freeze time.
	old, err := Decode(bytes.NewReader(before), 0)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	checkSameState(t, richStore(t, 0), old)
}

// Regression guard for the copy-on-write version slices: a Frozen taken
// between two appends to the same key must keep its own view.
func TestFreezeBetweenAppends(t *testing.T) {
	s := New(0)
	mustPut(t, s, "k", "1")
	var frozen []*Frozen
	var want [][]byte
	for i := 0; i < 10; i++ {
		f := s.Freeze()
		frozen = append(frozen, f)
		want = append(want, encodeFrozen(t, f))
		mustPut(t, s, "k", string(rune('a'+i)))
	}
	for i, f := range frozen {
		if got := encodeFrozen(t, f); !bytes.Equal(got, want[i]) {
			t.Errorf("frozen copy %d changed", i)
		}
	}
}

func TestHashDistinguishesStates(t *testing.T) {
	base := func() *Store {
		s := New(0)
		mustPut(t, s, "a", "1")
		return s
	}
	h := base().Hash()
	if base().Hash() != h {
		t.Fatalf("equal states, different hashes")
	}
	changes := map[string]func(*Store){
		"value":   func(s *Store) { mustPut(t, s, "a", "2") },
		"delete":  func(s *Store) { mustDelete(t, s, "a", "") },
		"lease":   func(s *Store) { _ = s.LeaseGrant(1, 1) },
		"compact": func(s *Store) { _ = s.Compact(2) },
	}
	for name, change := range changes {
		s := base()
		change(s)
		if s.Hash() == h {
			t.Errorf("%s: hash unchanged", name)
		}
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, io.ErrShortWrite
	}
	w.n--
	return len(p), nil
}

func TestWriteToError(t *testing.T) {
	s := New(0)
	for i := 0; i < 2000; i++ {
		mustPut(t, s, string(rune(0x100+i)), string(make([]byte, 200)))
	}
	if _, err := s.Freeze().WriteTo(&failWriter{}); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("WriteTo a failing writer: %v, want %v", err, io.ErrShortWrite)
	}
	if _, err := s.Freeze().WriteTo(&failWriter{n: 1}); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("WriteTo a writer failing later: %v, want %v", err, io.ErrShortWrite)
	}
}

func TestDecodeRejectsCorrupt(t *testing.T) {
	good := encode(t, richStore(t, 5))
	tests := map[string][]byte{
		"empty":            nil,
		"bad magic":        append([]byte("skiff-mvcc\x02"), good[len(snapshotMagic):]...),
		"trailing data":    append(append([]byte(nil), good...), 0),
		"truncated header": good[:len(snapshotMagic)+1],
	}
	for n := 1; n < len(good); n += 7 {
		tests[fmt.Sprintf("truncated to %d bytes", n)] = good[:n]
	}
	for name, b := range tests {
		if _, err := Decode(bytes.NewReader(b), 0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Decode: %v, want %v", name, err, ErrCorrupt)
		}
	}
}

// encoding builds encoded states by hand, field by field, in the layout
// Frozen.WriteTo uses.
type encoding struct{ b []byte }

func newEncoding(rev, compactRev int64) *encoding {
	e := &encoding{b: []byte(snapshotMagic)}
	return e.varint(rev).varint(compactRev)
}

func (e *encoding) varint(v int64) *encoding   { e.b = binary.AppendVarint(e.b, v); return e }
func (e *encoding) uvarint(v uint64) *encoding { e.b = binary.AppendUvarint(e.b, v); return e }
func (e *encoding) raw(b ...byte) *encoding    { e.b = append(e.b, b...); return e }
func (e *encoding) str(s string) *encoding     { return e.uvarint(uint64(len(s))).raw([]byte(s)...) }

// version appends one version: sub, create, mod, version, lease, value.
func (e *encoding) version(sub, create, mod, ver, lease int64, value string) *encoding {
	return e.varint(sub).varint(create).varint(mod).varint(ver).varint(lease).str(value)
}

func TestDecodeHandBuilt(t *testing.T) {
	// Two leases, key a (two versions, the second on lease 2), key b.
	valid := newEncoding(4, 0).uvarint(2).varint(1).varint(10).varint(2).varint(20).
		uvarint(2).
		str("a").uvarint(2).version(0, 2, 2, 1, 0, "x").version(0, 2, 3, 2, 2, "y").
		str("b").uvarint(1).version(0, 4, 4, 1, 0, "").b
	s, err := Decode(bytes.NewReader(valid), 0)
	if err != nil {
		t.Fatalf("Decode of a hand-built state: %v", err)
	}
	if got := encode(t, s); !bytes.Equal(got, valid) {
		t.Fatalf("re-encoding differs:\n got  %x\n want %x", got, valid)
	}
	if got := leaseKeys(t, s, 2); len(got) != 1 || got[0] != "a" {
		t.Errorf("lease 2 keys %q, want [a]", got)
	}
	checkInvariants(t, s)
}

func TestDecodeRejectsBadState(t *testing.T) {
	key := func(e *encoding) *encoding { return e.uvarint(1).str("a").uvarint(1).version(0, 2, 2, 1, 0, "v") }
	tests := []struct {
		name string
		b    []byte
	}{
		{"revision 0", key(newEncoding(0, 0).uvarint(0)).b},
		{"compacted past the revision", key(newEncoding(2, 3).uvarint(0)).b},
		{"lease 0", key(newEncoding(2, 0).uvarint(1).varint(0).varint(5)).b},
		{"duplicate lease", key(newEncoding(2, 0).uvarint(2).varint(1).varint(5).varint(1).varint(5)).b},
		{"keys out of order", newEncoding(2, 0).uvarint(0).uvarint(2).str("b").uvarint(1).version(0, 2, 2, 1, 0, "").str("a").uvarint(1).version(0, 2, 2, 1, 0, "").b},
		{"empty key", newEncoding(2, 0).uvarint(0).uvarint(1).str("").uvarint(1).version(0, 2, 2, 1, 0, "").b},
		{"key without versions", newEncoding(2, 0).uvarint(0).uvarint(1).str("a").uvarint(0).b},
		{"version past the revision", newEncoding(2, 0).uvarint(0).uvarint(1).str("a").uvarint(1).version(0, 3, 3, 1, 0, "").b},
		{"versions out of order", newEncoding(3, 0).uvarint(0).uvarint(1).str("a").uvarint(2).version(0, 3, 3, 1, 0, "").version(0, 2, 2, 1, 0, "").b},
		{"live key on an unknown lease", newEncoding(2, 0).uvarint(0).uvarint(1).str("a").uvarint(1).version(0, 2, 2, 1, 7, "").b},
		{"length over the limit", newEncoding(2, 0).uvarint(0).uvarint(1).uvarint(maxEncodedBytes + 1).b},

		// Regression: a revision with no version behind it cannot come from
		// a store (every revision is a write), and rebuilding the watch
		// history for it allocated one slot per revision: a few bytes
		// claiming revision 2^40 exhausted memory, 2^62 panicked.
		{"revision without writes", key(newEncoding(3, 0).uvarint(0)).b},
		{"huge revision", newEncoding(1<<62, 0).uvarint(0).uvarint(0).b},
		{"huge revision after compaction", newEncoding(1<<62, 1<<62-1).uvarint(0).uvarint(0).b},
		{"compacted revision without writes", key(newEncoding(5, 5).uvarint(0)).b},

		// Regression: Decode accepted encodings WriteTo never produces, so a
		// decoded state did not re-encode to its input.
		{"leases out of order", key(newEncoding(2, 0).uvarint(2).varint(2).varint(5).varint(1).varint(5)).b},
		{"overlong revision varint", key((&encoding{b: []byte(snapshotMagic)}).raw(0x84, 0x00).varint(0).uvarint(0)).b},
		{"overlong count", newEncoding(2, 0).raw(0x80, 0x00).uvarint(1).str("a").uvarint(1).version(0, 2, 2, 1, 0, "v").b},
		{"overlong key length", newEncoding(2, 0).uvarint(0).uvarint(1).raw(0x81, 0x00, 'a').uvarint(1).version(0, 2, 2, 1, 0, "v").b},
		{"overlong zero revision field", newEncoding(2, 0).uvarint(0).uvarint(1).str("a").uvarint(1).raw(0x80, 0x80, 0x00).varint(2).varint(2).varint(1).varint(0).str("v").b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Decode(bytes.NewReader(tt.b), 0)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode(%x): %v, want %v", tt.b, err, ErrCorrupt)
			}
			if s != nil {
				t.Errorf("Decode returned a store with an error")
			}
		})
	}
}
