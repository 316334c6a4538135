package mvcc

import (
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// MaxLeaseTTL is etcd's largest lease TTL in seconds.
const MaxLeaseTTL = 9_000_000_000

// LeaseGrant records a lease. The ID is chosen by the proposer, never here.
func (s *Store) LeaseGrant(id, ttl int64) error {
	if id <= 0 {
		return ErrLeaseNotFound
	}
	if ttl > MaxLeaseTTL {
		return ErrLeaseTTL
	}
	if _, ok := s.leases[id]; ok {
		return ErrLeaseExists
	}
	if err := s.checkQuota(versionOverhead); err != nil {
		return err
	}
	s.leases[id] = &Lease{ID: id, TTL: ttl, keys: map[string]struct{}{}}
	s.size += versionOverhead
	return nil
}

// LeaseRevoke deletes a lease and, at one new revision, every key attached
// to it. It returns the store's revision afterwards.
func (s *Store) LeaseRevoke(id int64) (int64, error) {
	l, ok := s.leases[id]
	if !ok {
		return 0, ErrLeaseNotFound
	}
	keys := make([]string, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys) // map order is random; the state must not be
	w := s.newWriter()
	for _, k := range keys {
		w.deleteRange(&pb.DeleteRangeRequest{Key: []byte(k)})
	}
	delete(s.leases, id)
	s.size -= versionOverhead
	return w.commit(), nil
}
