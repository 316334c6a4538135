package mvcc

import (
	"bytes"
	"sort"
	"sync"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// versionOverhead is the bytes charged against the quota per stored version on
// top of its key and value, so that many tiny writes still fill it.
const versionOverhead = 64

// DefaultQuotaBytes is etcd's default storage quota.
const DefaultQuotaBytes = 2 << 30

// A version is one write of a key. Tombstones have kv.Version == 0 and only Key
// and ModRevision set. kv is shared with readers and never modified.
type version struct {
	kv  *mvccpb.KeyValue
	sub int64
}

func (v version) tombstone() bool { return v.kv.Version == 0 }

// keyRecord holds every retained version of one key, oldest first. A record in
// the tree is immutable except that versions may grow by append: readers of an
// older clone hold the shorter slice header and never see the new element.
type keyRecord struct {
	key      string
	versions []version
}

func lessRecord(a, b *keyRecord) bool { return a.key < b.key }

// at returns the version visible at revision rev, if the key is live there.
func (r *keyRecord) at(rev int64) (*mvccpb.KeyValue, bool) {
	i := sort.Search(len(r.versions), func(i int) bool { return r.versions[i].kv.ModRevision > rev }) - 1
	if i < 0 || r.versions[i].tombstone() {
		return nil, false
	}
	return r.versions[i].kv, true
}

// latest returns the newest version if the key is live.
func (r *keyRecord) latest() (*mvccpb.KeyValue, bool) {
	if len(r.versions) == 0 {
		return nil, false
	}
	v := r.versions[len(r.versions)-1]
	if v.tombstone() {
		return nil, false
	}
	return v.kv, true
}

// Store is the in-memory MVCC key space. It is not safe for concurrent use:
// the caller serialises writers, and readers may share it only while no
// writer runs.
type Store struct {
	keys       *btree.BTreeG[*keyRecord]
	rev        int64
	compactRev int64
	// history[i] holds the events of revision histStart+i; it covers every
	// revision from max(compactRev, 2) to rev.
	history   [][]*mvccpb.Event
	histStart int64
	size      int64
	quota     int64
	maxTxnOps int
	leases    map[int64]*Lease
	// freezeMu serialises Freeze, which callers run as readers but which
	// swaps the key tree's copy-on-write context.
	freezeMu sync.Mutex
}

// Lease is a granted lease as the replicated state sees it: its expiry is the
// leader's business, not the state machine's.
type Lease struct {
	ID   int64
	TTL  int64
	keys map[string]struct{}
}

// Keys returns the keys attached to the lease, sorted.
func (l *Lease) Keys() []string {
	out := make([]string, 0, len(l.keys))
	for k := range l.keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// New returns an empty store at revision 1 (etcd's first revision) with the
// given quota in bytes (0 means DefaultQuotaBytes).
func New(quota int64) *Store {
	if quota <= 0 {
		quota = DefaultQuotaBytes
	}
	return &Store{
		keys:      btree.NewG(32, lessRecord),
		rev:       1,
		histStart: 2,
		quota:     quota,
		leases:    map[int64]*Lease{},
	}
}

// Rev is the current revision.
func (s *Store) Rev() int64 { return s.rev }

// CompactRev is the revision of the last compaction (0 if none).
func (s *Store) CompactRev() int64 { return s.compactRev }

// Size is the number of bytes charged against the quota.
func (s *Store) Size() int64 { return s.size }

// Quota is the storage quota in bytes.
func (s *Store) Quota() int64 { return s.quota }

// SetQuota changes the quota; it is configuration, not replicated state.
func (s *Store) SetQuota(q int64) {
	if q <= 0 {
		q = DefaultQuotaBytes
	}
	s.quota = q
}

// SetMaxTxnOps sets the limit on operations per transaction branch (0 means
// DefaultMaxTxnOps). Like the quota it is configuration: every replica must
// be given the same value.
func (s *Store) SetMaxTxnOps(n int) { s.maxTxnOps = n }

// KeyCount is the number of keys with at least one retained version.
func (s *Store) KeyCount() int { return s.keys.Len() }

// Lease returns the lease with the given ID.
func (s *Store) Lease(id int64) (*Lease, bool) {
	l, ok := s.leases[id]
	return l, ok
}

// Leases returns all granted leases, ordered by ID.
func (s *Store) Leases() []*Lease {
	out := make([]*Lease, 0, len(s.leases))
	for _, l := range s.leases {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// keyRange is a request's key selection in etcd's terms: a single key when end
// is empty, every key >= start when end is "\x00", else [start, end).
type keyRange struct {
	start, end []byte
}

func (r keyRange) single() bool  { return len(r.end) == 0 }
func (r keyRange) fromKey() bool { return len(r.end) == 1 && r.end[0] == 0 }

// contains reports whether key falls in the range.
func (r keyRange) contains(key []byte) bool {
	switch {
	case r.single():
		return bytes.Equal(key, r.start)
	case r.fromKey():
		return bytes.Compare(key, r.start) >= 0
	default:
		return bytes.Compare(key, r.start) >= 0 && bytes.Compare(key, r.end) < 0
	}
}

// overlaps reports whether two ranges share a key.
func (r keyRange) overlaps(o keyRange) bool {
	if r.single() {
		return o.contains(r.start)
	}
	if o.single() {
		return r.contains(o.start)
	}
	// Both are intervals [start, end) where fromKey means end = +inf.
	rEndAfter := func(a keyRange, k []byte) bool { return a.fromKey() || bytes.Compare(k, a.end) < 0 }
	return rEndAfter(r, o.start) && rEndAfter(o, r.start)
}

// ascend calls fn for each record whose key is in the range, in key order,
// until fn returns false.
func (s *Store) ascend(r keyRange, fn func(*keyRecord) bool) {
	if r.single() {
		if rec, ok := s.keys.Get(&keyRecord{key: string(r.start)}); ok {
			fn(rec)
		}
		return
	}
	end := string(r.end)
	s.keys.AscendGreaterOrEqual(&keyRecord{key: string(r.start)}, func(rec *keyRecord) bool {
		if !r.fromKey() && rec.key >= end {
			return false
		}
		return fn(rec)
	})
}

func (s *Store) record(key []byte) (*keyRecord, bool) {
	return s.keys.Get(&keyRecord{key: string(key)})
}

// checkRev resolves a request revision (0 = current) against the retained history.
func (s *Store) checkRev(rev int64) (int64, error) {
	if rev <= 0 {
		return s.rev, nil
	}
	if rev > s.rev {
		return 0, ErrFutureRev
	}
	if rev < s.compactRev {
		return 0, ErrCompacted
	}
	return rev, nil
}

// chargeOf is what one stored version costs against the quota.
func chargeOf(kv *mvccpb.KeyValue) int64 {
	return int64(len(kv.Key)+len(kv.Value)) + versionOverhead
}
