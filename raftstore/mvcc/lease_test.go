package mvcc

import (
	"errors"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestLeaseGrant(t *testing.T) {
	s := New(0)
	tests := []struct {
		name    string
		id, ttl int64
		want    error
	}{
		{"grant", 1, 10, nil},
		{"another", 2, 10, nil},
		{"max ttl", 3, MaxLeaseTTL, nil},
		{"duplicate", 1, 20, ErrLeaseExists},
		{"ttl over the max", 4, MaxLeaseTTL + 1, ErrLeaseTTL},
		{"no lease id", 0, 10, ErrLeaseNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.LeaseGrant(tt.id, tt.ttl); !errors.Is(err, tt.want) {
				t.Fatalf("LeaseGrant(%d, %d): %v, want %v", tt.id, tt.ttl, err, tt.want)
			}
		})
	}
	var ids []int64
	for _, l := range s.Leases() {
		ids = append(ids, l.ID)
	}
	if !slices.Equal(ids, []int64{1, 2, 3}) {
		t.Errorf("Leases() = %v, want [1 2 3]", ids)
	}
	if l, ok := s.Lease(1); !ok || l.TTL != 10 {
		t.Errorf("Lease(1) = %v, %v; want TTL 10 (the duplicate grant must not change it)", l, ok)
	}
	// Granting is not a key-space write.
	if s.Rev() != 1 {
		t.Errorf("Rev() after grants = %d, want 1", s.Rev())
	}
}

func leaseKeys(t *testing.T, s *Store, id int64) []string {
	t.Helper()
	l, ok := s.Lease(id)
	if !ok {
		t.Fatalf("lease %d not found", id)
	}
	return l.Keys()
}

func TestLeaseAttachDetach(t *testing.T) {
	s := New(0)
	for _, id := range []int64{1, 2} {
		if err := s.LeaseGrant(id, 60); err != nil {
			t.Fatalf("LeaseGrant(%d): %v", id, err)
		}
	}
	mustPutLease(t, s, "b", "v", 1)
	mustPutLease(t, s, "a", "v", 1)
	mustPutLease(t, s, "c", "v", 2)
	if got := leaseKeys(t, s, 1); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("lease 1 keys %q, want [a b]", got)
	}
	// Re-put with another lease moves the key.
	mustPutLease(t, s, "a", "v2", 2)
	if got := leaseKeys(t, s, 1); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after moving a: lease 1 keys %q, want [b]", got)
	}
	if got := leaseKeys(t, s, 2); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("after moving a: lease 2 keys %q, want [a c]", got)
	}
	// Re-put without a lease detaches.
	mustPut(t, s, "c", "v2")
	if got := leaseKeys(t, s, 2); !slices.Equal(got, []string{"a"}) {
		t.Errorf("after c without lease: lease 2 keys %q, want [a]", got)
	}
	if kv := mustGet(t, s, "c"); kv.Lease != 0 {
		t.Errorf("c has lease %d after a put without one", kv.Lease)
	}
	// Delete detaches.
	mustDelete(t, s, "b", "")
	if got := leaseKeys(t, s, 1); len(got) != 0 {
		t.Errorf("after deleting b: lease 1 keys %q, want none", got)
	}
	// Revoking lease 1 now deletes nothing and takes no revision.
	rev := s.Rev()
	if got, err := s.LeaseRevoke(1); err != nil || got != rev {
		t.Errorf("LeaseRevoke(1) = %d, %v; want %d, nil", got, err, rev)
	}
}

func TestLeaseRevoke(t *testing.T) {
	s := New(0)
	for _, id := range []int64{1, 2} {
		if err := s.LeaseGrant(id, 60); err != nil {
			t.Fatalf("LeaseGrant(%d): %v", id, err)
		}
	}
	// Attach in an order that is not key order.
	for _, k := range []string{"m", "z", "a", "q", "c"} {
		mustPutLease(t, s, k, "v-"+k, 1)
	}
	mustPutLease(t, s, "other", "v", 2)
	mustPut(t, s, "free", "v")
	before := s.Rev()
	sizeBefore := s.Size()

	rev, err := s.LeaseRevoke(1)
	if err != nil {
		t.Fatalf("LeaseRevoke(1): %v", err)
	}
	if rev != before+1 || s.Rev() != before+1 {
		t.Fatalf("LeaseRevoke(1) = revision %d, Rev() %d; want one revision, %d", rev, s.Rev(), before+1)
	}
	if _, ok := s.Lease(1); ok {
		t.Errorf("lease 1 still granted after revoke")
	}
	resp := mustRange(t, s, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if got := keysOf(resp.Kvs); !slices.Equal(got, []string{"free", "other"}) {
		t.Errorf("keys after revoke %q, want [free other]", got)
	}
	evs, _, err := s.EventsFrom(rev, 0)
	if err != nil {
		t.Fatalf("EventsFrom: %v", err)
	}
	if got := keysOfEvents(evs); !slices.Equal(got, []string{"a", "c", "m", "q", "z"}) {
		t.Errorf("revoke deleted %q, want sorted [a c m q z]", got)
	}
	for _, ev := range evs {
		if ev.Type != mvccpb.DELETE || ev.Kv.ModRevision != rev || ev.PrevKv == nil || ev.PrevKv.Lease != 1 {
			t.Errorf("revoke event %s, want DELETE at %d with prev on lease 1", evString(ev), rev)
		}
	}
	// Five tombstones (one-byte keys) added, the lease's charge removed.
	if got, want := s.Size(), sizeBefore+5*(1+versionOverhead)-versionOverhead; got != want {
		t.Errorf("Size() after revoke = %d, want %d", got, want)
	}
	if _, err := s.LeaseRevoke(1); !errors.Is(err, ErrLeaseNotFound) {
		t.Errorf("second revoke: %v, want %v", err, ErrLeaseNotFound)
	}
	if _, err := s.LeaseRevoke(42); !errors.Is(err, ErrLeaseNotFound) {
		t.Errorf("revoke of an unknown lease: %v, want %v", err, ErrLeaseNotFound)
	}
	if s.Rev() != rev {
		t.Errorf("failed revokes moved the revision")
	}
	// The lease can be granted again, and the keys re-created on it.
	if err := s.LeaseGrant(1, 5); err != nil {
		t.Fatalf("re-grant: %v", err)
	}
	mustPutLease(t, s, "a", "again", 1)
	checkKV(t, mustGet(t, s, "a"), &mvccpb.KeyValue{Key: []byte("a"), Value: []byte("again"), CreateRevision: rev + 1, ModRevision: rev + 1, Version: 1, Lease: 1})
}

func TestLeaseRevokeOrderIsDeterministic(t *testing.T) {
	// Map iteration order is random: revoke many times and compare.
	var first uint64
	for i := 0; i < 20; i++ {
		s := New(0)
		if err := s.LeaseGrant(1, 60); err != nil {
			t.Fatalf("LeaseGrant: %v", err)
		}
		for _, k := range []string{"k1", "k9", "k3", "k7", "k5", "k2", "k8"} {
			mustPutLease(t, s, k, "v", 1)
		}
		if _, err := s.LeaseRevoke(1); err != nil {
			t.Fatalf("LeaseRevoke: %v", err)
		}
		if i == 0 {
			first = s.Hash()
		} else if h := s.Hash(); h != first {
			t.Fatalf("run %d: hash %x, want %x", i, h, first)
		}
	}
}
