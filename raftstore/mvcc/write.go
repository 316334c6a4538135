package mvcc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// writer collects the writes of one request, which all share one revision
// (rev) and get increasing sub-revisions. Nothing is visible as a new revision
// until commit; a request that writes nothing leaves the revision alone.
type writer struct {
	s      *Store
	rev    int64
	sub    int64
	events []*mvccpb.Event
}

func (s *Store) newWriter() *writer { return &writer{s: s, rev: s.rev + 1} }

// commit publishes the writes as revision w.rev and returns the store's revision.
func (w *writer) commit() int64 {
	if len(w.events) == 0 {
		return w.s.rev
	}
	w.s.rev = w.rev
	w.s.history = append(w.s.history, w.events)
	return w.s.rev
}

// put writes one key; the request was checked by checkPut.
func (w *writer) put(req *pb.PutRequest) *pb.PutResponse {
	s := w.s
	rec, exists := s.record(req.Key)
	var cur *mvccpb.KeyValue
	if exists {
		cur, _ = rec.latest()
	}
	value, lease := req.Value, req.Lease
	if req.IgnoreValue && cur != nil {
		value = cur.Value
	}
	if req.IgnoreLease && cur != nil {
		lease = cur.Lease
	}
	kv := &mvccpb.KeyValue{Key: req.Key, CreateRevision: w.rev, ModRevision: w.rev, Version: 1, Value: value, Lease: lease}
	if cur != nil {
		kv.CreateRevision = cur.CreateRevision
		kv.Version = cur.Version + 1
	}
	w.append(rec, exists, kv)
	if cur != nil && cur.Lease != 0 && cur.Lease != lease {
		s.detach(cur.Lease, string(req.Key))
	}
	if lease != 0 {
		s.leases[lease].keys[string(req.Key)] = struct{}{}
	}
	w.events = append(w.events, &mvccpb.Event{Type: mvccpb.PUT, Kv: kv, PrevKv: cur})
	resp := &pb.PutResponse{}
	if req.PrevKv {
		resp.PrevKv = cur
	}
	return resp
}

// deleteRange writes a tombstone for every key live in the range.
func (w *writer) deleteRange(req *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	s := w.s
	resp := &pb.DeleteRangeResponse{}
	var recs []*keyRecord
	var prevs []*mvccpb.KeyValue
	s.ascend(keyRange{start: req.Key, end: req.RangeEnd}, func(rec *keyRecord) bool {
		if kv, ok := rec.latest(); ok {
			recs = append(recs, rec)
			prevs = append(prevs, kv)
		}
		return true
	})
	for i, rec := range recs {
		w.tombstone(rec, prevs[i])
	}
	resp.Deleted = int64(len(recs))
	if req.PrevKv {
		resp.PrevKvs = prevs
	}
	return resp
}

func (w *writer) tombstone(rec *keyRecord, prev *mvccpb.KeyValue) {
	kv := &mvccpb.KeyValue{Key: prev.Key, ModRevision: w.rev}
	w.append(rec, true, kv)
	if prev.Lease != 0 {
		w.s.detach(prev.Lease, rec.key)
	}
	w.events = append(w.events, &mvccpb.Event{Type: mvccpb.DELETE, Kv: kv, PrevKv: prev})
}

// append adds a version to a key, replacing the record in the tree so that
// clones taken for snapshots keep seeing the old one.
func (w *writer) append(rec *keyRecord, exists bool, kv *mvccpb.KeyValue) {
	v := version{kv: kv, sub: w.sub}
	w.sub++
	var next *keyRecord
	if exists {
		next = &keyRecord{key: rec.key, versions: append(rec.versions, v)}
	} else {
		next = &keyRecord{key: string(kv.Key), versions: []version{v}}
	}
	w.s.keys.ReplaceOrInsert(next)
	w.s.size += chargeOf(kv)
}

func (s *Store) detach(lease int64, key string) {
	if l, ok := s.leases[lease]; ok {
		delete(l.keys, key)
	}
}

// checkPut validates a put against the current state without changing it.
func (s *Store) checkPut(req *pb.PutRequest) error {
	if len(req.Key) == 0 {
		return ErrEmptyKey
	}
	if req.IgnoreValue && len(req.Value) != 0 {
		return ErrValueProvided
	}
	if req.IgnoreLease && req.Lease != 0 {
		return ErrLeaseProvided
	}
	if req.Lease != 0 {
		if _, ok := s.leases[req.Lease]; !ok {
			return ErrLeaseNotFound
		}
	}
	if req.IgnoreValue || req.IgnoreLease {
		rec, ok := s.record(req.Key)
		if !ok {
			return ErrKeyNotFound
		}
		if _, live := rec.latest(); !live {
			return ErrKeyNotFound
		}
	}
	return nil
}

// putCharge is what a put adds to the quota.
func (s *Store) putCharge(req *pb.PutRequest) int64 {
	n := int64(len(req.Key)+len(req.Value)) + versionOverhead
	if req.IgnoreValue {
		if rec, ok := s.record(req.Key); ok {
			if kv, ok := rec.latest(); ok {
				n += int64(len(kv.Value))
			}
		}
	}
	return n
}

func (s *Store) checkQuota(charge int64) error {
	if charge > 0 && s.size+charge > s.quota {
		return ErrNoSpace
	}
	return nil
}

// Put writes one key at a new revision.
func (s *Store) Put(req *pb.PutRequest) (*pb.PutResponse, error) {
	if err := s.checkPut(req); err != nil {
		return nil, err
	}
	if err := s.checkQuota(s.putCharge(req)); err != nil {
		return nil, err
	}
	w := s.newWriter()
	resp := w.put(req)
	resp.Header = &pb.ResponseHeader{Revision: w.commit()}
	return resp, nil
}

// DeleteRange deletes the live keys in a range at a new revision (none if no
// key was live).
func (s *Store) DeleteRange(req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if len(req.Key) == 0 {
		return nil, ErrEmptyKey
	}
	w := s.newWriter()
	resp := w.deleteRange(req)
	resp.Header = &pb.ResponseHeader{Revision: w.commit()}
	return resp, nil
}
