package mvcc

import (
	"bytes"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Range reads keys as of req.Revision (0 = now) with etcd's semantics: limit,
// count only, keys only, revision filters and sorting. The returned KeyValues
// are shared with the store and must not be modified.
func (s *Store) Range(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if len(req.Key) == 0 {
		return nil, ErrEmptyKey
	}
	rev, err := s.checkRev(req.Revision)
	if err != nil {
		return nil, err
	}
	order, err := sortOrder(req)
	if err != nil {
		return nil, err
	}
	return s.rangeAt(req, rev, order), nil
}

// rangeAt reads at a resolved revision with a validated sort order.
func (s *Store) rangeAt(req *pb.RangeRequest, rev int64, order pb.RangeRequest_SortOrder) *pb.RangeResponse {
	r := keyRange{start: req.Key, end: req.RangeEnd}
	filtered := req.MinModRevision != 0 || req.MaxModRevision != 0 || req.MinCreateRevision != 0 || req.MaxCreateRevision != 0
	// Without sorting or filters the first limit+1 live keys decide the page;
	// with them every key in the range is needed first.
	collectAll := order != pb.RangeRequest_NONE || filtered
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: s.rev}}
	var kvs []*mvccpb.KeyValue
	var count int64
	s.ascend(r, func(rec *keyRecord) bool {
		kv, ok := rec.at(rev)
		if !ok {
			return true
		}
		count++
		if req.CountOnly {
			return true
		}
		if filtered && !passesFilters(req, kv) {
			return true
		}
		// As in etcd, a limit of zero or less means no limit.
		if collectAll || req.Limit <= 0 || int64(len(kvs)) <= req.Limit {
			kvs = append(kvs, kv)
		}
		return true
	})
	resp.Count = count
	if req.CountOnly {
		return resp
	}
	if order != pb.RangeRequest_NONE {
		sortKVs(kvs, req.SortTarget, order)
	}
	if req.Limit > 0 && int64(len(kvs)) > req.Limit {
		kvs = kvs[:req.Limit]
		resp.More = true
	}
	if req.KeysOnly {
		for i, kv := range kvs {
			kvs[i] = &mvccpb.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
		}
	}
	resp.Kvs = kvs
	return resp
}

func passesFilters(req *pb.RangeRequest, kv *mvccpb.KeyValue) bool {
	if req.MinModRevision != 0 && kv.ModRevision < req.MinModRevision {
		return false
	}
	if req.MaxModRevision != 0 && kv.ModRevision > req.MaxModRevision {
		return false
	}
	if req.MinCreateRevision != 0 && kv.CreateRevision < req.MinCreateRevision {
		return false
	}
	if req.MaxCreateRevision != 0 && kv.CreateRevision > req.MaxCreateRevision {
		return false
	}
	return true
}

// sortOrder validates the sort options; like etcd, a sort target other than
// the key with no order means ascending.
func sortOrder(req *pb.RangeRequest) (pb.RangeRequest_SortOrder, error) {
	if _, ok := pb.RangeRequest_SortOrder_name[int32(req.SortOrder)]; !ok {
		return 0, ErrInvalidSort
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(req.SortTarget)]; !ok {
		return 0, ErrInvalidSort
	}
	order := req.SortOrder
	if order == pb.RangeRequest_NONE && req.SortTarget != pb.RangeRequest_KEY {
		order = pb.RangeRequest_ASCEND
	}
	if order == pb.RangeRequest_ASCEND && req.SortTarget == pb.RangeRequest_KEY {
		// Keys already come in ascending order.
		order = pb.RangeRequest_NONE
	}
	return order, nil
}

func sortKVs(kvs []*mvccpb.KeyValue, target pb.RangeRequest_SortTarget, order pb.RangeRequest_SortOrder) {
	var less func(a, b *mvccpb.KeyValue) bool
	switch target {
	case pb.RangeRequest_KEY:
		less = func(a, b *mvccpb.KeyValue) bool { return bytes.Compare(a.Key, b.Key) < 0 }
	case pb.RangeRequest_VERSION:
		less = func(a, b *mvccpb.KeyValue) bool { return a.Version < b.Version }
	case pb.RangeRequest_CREATE:
		less = func(a, b *mvccpb.KeyValue) bool { return a.CreateRevision < b.CreateRevision }
	case pb.RangeRequest_MOD:
		less = func(a, b *mvccpb.KeyValue) bool { return a.ModRevision < b.ModRevision }
	case pb.RangeRequest_VALUE:
		less = func(a, b *mvccpb.KeyValue) bool { return bytes.Compare(a.Value, b.Value) < 0 }
	}
	if order == pb.RangeRequest_DESCEND {
		asc := less
		less = func(a, b *mvccpb.KeyValue) bool { return asc(b, a) }
	}
	sort.SliceStable(kvs, func(i, j int) bool { return less(kvs[i], kvs[j]) })
}
