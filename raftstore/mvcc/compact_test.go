package mvcc

import (
	"errors"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// compactFixture:
//
//	2 put a=1   3 put a=2   4 put b=1   5 del b   6 put c=1
//	7 put a=3   8 del c     9 put b=2
func compactFixture(t *testing.T) *Store {
	t.Helper()
	s := New(0)
	mustPut(t, s, "a", "1")   // 2
	mustPut(t, s, "a", "2")   // 3
	mustPut(t, s, "b", "1")   // 4
	mustDelete(t, s, "b", "") // 5
	mustPut(t, s, "c", "1")   // 6
	mustPut(t, s, "a", "3")   // 7
	mustDelete(t, s, "c", "") // 8
	mustPut(t, s, "b", "2")   // 9
	return s
}

// snapshotAll reads every key at every revision in [from, to].
func snapshotAll(t *testing.T, s *Store, from, to int64) map[int64]*pb.RangeResponse {
	t.Helper()
	out := map[int64]*pb.RangeResponse{}
	for rev := from; rev <= to; rev++ {
		out[rev] = mustRange(t, s, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev})
	}
	return out
}

func TestCompactKeepsReadsAtAndAfterRevision(t *testing.T) {
	for rev := int64(1); rev <= 9; rev++ {
		s := compactFixture(t)
		want := snapshotAll(t, s, rev, 9)
		if err := s.Compact(rev); err != nil {
			t.Fatalf("Compact(%d): %v", rev, err)
		}
		if s.CompactRev() != rev || s.Rev() != 9 {
			t.Fatalf("Compact(%d): CompactRev %d, Rev %d", rev, s.CompactRev(), s.Rev())
		}
		got := snapshotAll(t, s, rev, 9)
		for r := rev; r <= 9; r++ {
			if !equalRange(got[r], want[r]) {
				t.Errorf("after Compact(%d), Range at %d = %q, want %q", rev, r, keysOf(got[r].Kvs), keysOf(want[r].Kvs))
			}
		}
		if rev > 1 {
			if _, err := s.Range(&pb.RangeRequest{Key: []byte("a"), Revision: rev - 1}); !errors.Is(err, ErrCompacted) {
				t.Errorf("after Compact(%d), Range at %d: %v, want %v", rev, rev-1, err, ErrCompacted)
			}
		}
	}
}

func equalRange(a, b *pb.RangeResponse) bool {
	if a.Count != b.Count || a.More != b.More || len(a.Kvs) != len(b.Kvs) {
		return false
	}
	for i := range a.Kvs {
		if kvString(a.Kvs[i]) != kvString(b.Kvs[i]) {
			return false
		}
	}
	return true
}

func TestCompactDropsVersions(t *testing.T) {
	tests := []struct {
		rev      int64
		versions map[string][]int64 // key -> retained mod revisions
	}{
		{1, map[string][]int64{"a": {2, 3, 7}, "b": {4, 5, 9}, "c": {6, 8}}},
		{3, map[string][]int64{"a": {3, 7}, "b": {4, 5, 9}, "c": {6, 8}}},
		{4, map[string][]int64{"a": {3, 7}, "b": {4, 5, 9}, "c": {6, 8}}},
		// The tombstone at the compacted revision is kept (as etcd does),
		// so a watch from 5 still sees the delete.
		{5, map[string][]int64{"a": {3, 7}, "b": {5, 9}, "c": {6, 8}}},
		// A tombstone older than the revision goes with everything before it.
		{6, map[string][]int64{"a": {3, 7}, "b": {9}, "c": {6, 8}}},
		{8, map[string][]int64{"a": {7}, "b": {9}, "c": {8}}},
		// c's tombstone is now older: c is gone entirely.
		{9, map[string][]int64{"a": {7}, "b": {9}}},
	}
	for _, tt := range tests {
		s := compactFixture(t)
		if err := s.Compact(tt.rev); err != nil {
			t.Fatalf("Compact(%d): %v", tt.rev, err)
		}
		got := map[string][]int64{}
		var size int64
		s.keys.Ascend(func(rec *keyRecord) bool {
			for _, v := range rec.versions {
				got[rec.key] = append(got[rec.key], v.kv.ModRevision)
				size += chargeOf(v.kv)
			}
			return true
		})
		if len(got) != len(tt.versions) || s.KeyCount() != len(tt.versions) {
			t.Errorf("Compact(%d): keys %v, want %v", tt.rev, got, tt.versions)
			continue
		}
		for k, want := range tt.versions {
			if !slices.Equal(got[k], want) {
				t.Errorf("Compact(%d): %q keeps revisions %v, want %v", tt.rev, k, got[k], want)
			}
		}
		if s.Size() != size {
			t.Errorf("Compact(%d): Size() = %d, want %d (the sum of the retained versions)", tt.rev, s.Size(), size)
		}
	}
}

func TestCompactSizeShrinks(t *testing.T) {
	s := compactFixture(t)
	before := s.Size()
	if err := s.Compact(9); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	// Left: a=3 and b=2, one byte keys and values.
	if got, want := s.Size(), int64(2*(2+versionOverhead)); got != want {
		t.Errorf("Size() after Compact(9) = %d (was %d), want %d", got, before, want)
	}
}

func TestCompactErrors(t *testing.T) {
	s := compactFixture(t)
	if err := s.Compact(10); !errors.Is(err, ErrFutureRev) {
		t.Errorf("Compact(10) at revision 9: %v, want %v", err, ErrFutureRev)
	}
	if err := s.Compact(5); err != nil {
		t.Fatalf("Compact(5): %v", err)
	}
	for _, rev := range []int64{5, 4, 0} {
		h := s.Hash()
		if err := s.Compact(rev); !errors.Is(err, ErrCompacted) {
			t.Errorf("Compact(%d) after Compact(5): %v, want %v", rev, err, ErrCompacted)
		}
		if s.Hash() != h || s.CompactRev() != 5 {
			t.Errorf("failed Compact(%d) changed the store", rev)
		}
	}
	if err := s.Compact(9); err != nil {
		t.Errorf("Compact(9) after Compact(5): %v", err)
	}
	// Compaction does not change the revision, and writes go on.
	if s.Rev() != 9 {
		t.Errorf("Rev() after compaction = %d, want 9", s.Rev())
	}
	if rev := mustPut(t, s, "a", "4"); rev != 10 {
		t.Errorf("put after compaction at %d, want 10", rev)
	}
	checkKV(t, mustGet(t, s, "a"), &mvccpb.KeyValue{Key: []byte("a"), Value: []byte("4"), CreateRevision: 2, ModRevision: 10, Version: 4})
}

func TestCompactEmptyStore(t *testing.T) {
	s := New(0)
	if err := s.Compact(1); err != nil {
		t.Fatalf("Compact(1) on an empty store: %v", err)
	}
	if err := s.Compact(1); !errors.Is(err, ErrCompacted) {
		t.Errorf("second Compact(1): %v, want %v", err, ErrCompacted)
	}
	if rev := mustPut(t, s, "a", "1"); rev != 2 {
		t.Errorf("put at %d, want 2", rev)
	}
	if evs, _, err := s.EventsFrom(1, 0); err != nil || len(evs) != 1 {
		t.Errorf("EventsFrom(1) = %d events, %v; want 1", len(evs), err)
	}
}

func TestCompactHistory(t *testing.T) {
	s := compactFixture(t)
	full, _, err := s.EventsFrom(6, 0)
	if err != nil {
		t.Fatalf("EventsFrom(6): %v", err)
	}
	if err := s.Compact(6); err != nil {
		t.Fatalf("Compact(6): %v", err)
	}
	if _, _, err := s.EventsFrom(5, 0); !errors.Is(err, ErrCompacted) {
		t.Errorf("EventsFrom(5) after Compact(6): %v, want %v", err, ErrCompacted)
	}
	if _, _, err := s.EventsFrom(1, 0); !errors.Is(err, ErrCompacted) {
		t.Errorf("EventsFrom(1) after Compact(6): %v, want %v", err, ErrCompacted)
	}
	got, next, err := s.EventsFrom(6, 0)
	if err != nil {
		t.Fatalf("EventsFrom(6) after Compact(6): %v", err)
	}
	if next != 10 || len(got) != len(full) {
		t.Fatalf("EventsFrom(6) after Compact(6) = %d events, next %d; want %d, 10", len(got), next, len(full))
	}
	for i := range got {
		if got[i].Type != full[i].Type || kvString(got[i].Kv) != kvString(full[i].Kv) {
			t.Errorf("event %d = %s, want %s", i, evString(got[i]), evString(full[i]))
		}
	}
}

// Regression: an event at the compacted revision kept a pointer to its
// previous version after compaction dropped that version, so the watch feed
// differed between a compacted store and one restored from its snapshot
// (which cannot know the dropped version). etcd reads prev_kv at revision-1,
// which is compacted: such events have no previous value.
func TestCompactEventAtCompactRevisionHasNoPrevKV(t *testing.T) {
	for _, rev := range []int64{3, 5, 7} {
		s := compactFixture(t)
		if err := s.Compact(rev); err != nil {
			t.Fatalf("Compact(%d): %v", rev, err)
		}
		evs, _, err := s.EventsFrom(rev, 1)
		if err != nil || len(evs) != 1 {
			t.Fatalf("EventsFrom(%d): %d events, %v", rev, len(evs), err)
		}
		if evs[0].PrevKv != nil {
			t.Errorf("after Compact(%d): event at %d has prev %s, want none", rev, rev, kvString(evs[0].PrevKv))
		}
		checkSameState(t, s, roundTrip(t, s))
		// Later events keep their previous values.
		if rev == 3 {
			evs, _, _ := s.EventsFrom(7, 1)
			if len(evs) != 1 || evs[0].PrevKv == nil || evs[0].PrevKv.ModRevision != 3 {
				t.Errorf("event at 7 after Compact(3): %s, want prev at 3", evsString(evs))
			}
		}
	}
}

func TestCompactDoesNotDisturbFrozen(t *testing.T) {
	s := compactFixture(t)
	f := s.Freeze()
	before := encodeFrozen(t, f)
	if err := s.Compact(9); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if after := encodeFrozen(t, f); string(after) != string(before) {
		t.Errorf("Compact changed a Frozen taken before it")
	}
}
