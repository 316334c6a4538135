package mvcc

import (
	"bytes"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// DefaultMaxTxnOps is etcd's limit on operations per transaction branch.
const DefaultMaxTxnOps = 128

// ValidateTxn checks a transaction's shape without looking at any state, as
// etcd's API layer does: the number of operations (a nested transaction gets
// what its parent leaves of maxOps), empty keys, well-formed compares and
// requests in every branch, taken or not, and no key written twice (or both
// written and deleted) in one branch.
func ValidateTxn(req *pb.TxnRequest, maxOps int) error {
	if maxOps <= 0 {
		maxOps = DefaultMaxTxnOps
	}
	if err := validateTxnShape(req, maxOps); err != nil {
		return err
	}
	for _, ops := range [][]*pb.RequestOp{req.Success, req.Failure} {
		if _, _, err := branchWrites(ops); err != nil {
			return err
		}
	}
	return nil
}

// validateTxnShape is etcd's checkTxnRequest: each nested transaction is
// checked against maxOps less its parent's op count.
func validateTxnShape(req *pb.TxnRequest, maxOps int) error {
	opc := max(len(req.Compare), len(req.Success), len(req.Failure))
	if opc > maxOps {
		return ErrTooManyOps
	}
	for _, c := range req.Compare {
		if err := validateCompare(c); err != nil {
			return err
		}
	}
	for _, ops := range [][]*pb.RequestOp{req.Success, req.Failure} {
		for _, op := range ops {
			if err := validateOp(op, maxOps-opc); err != nil {
				return err
			}
		}
	}
	return nil
}

func validateOp(op *pb.RequestOp, maxOps int) error {
	if op == nil {
		return ErrBadCompare
	}
	switch r := op.Request.(type) {
	case *pb.RequestOp_RequestRange:
		if r.RequestRange == nil || len(r.RequestRange.Key) == 0 {
			return ErrEmptyKey
		}
		if _, err := sortOrder(r.RequestRange); err != nil {
			return err
		}
	case *pb.RequestOp_RequestPut:
		if r.RequestPut == nil || len(r.RequestPut.Key) == 0 {
			return ErrEmptyKey
		}
		if r.RequestPut.IgnoreValue && len(r.RequestPut.Value) != 0 {
			return ErrValueProvided
		}
		if r.RequestPut.IgnoreLease && r.RequestPut.Lease != 0 {
			return ErrLeaseProvided
		}
	case *pb.RequestOp_RequestDeleteRange:
		if r.RequestDeleteRange == nil || len(r.RequestDeleteRange.Key) == 0 {
			return ErrEmptyKey
		}
	case *pb.RequestOp_RequestTxn:
		if r.RequestTxn == nil {
			return ErrBadCompare
		}
		return validateTxnShape(r.RequestTxn, maxOps)
	default:
		return ErrBadCompare
	}
	return nil
}

func validateCompare(c *pb.Compare) error {
	if c == nil {
		return ErrBadCompare
	}
	if len(c.Key) == 0 {
		return ErrEmptyKey
	}
	if _, ok := pb.Compare_CompareResult_name[int32(c.Result)]; !ok {
		return ErrBadCompare
	}
	if _, ok := pb.Compare_CompareTarget_name[int32(c.Target)]; !ok {
		return ErrBadCompare
	}
	switch c.TargetUnion.(type) {
	case nil:
		return nil // etcd compares against the zero value
	case *pb.Compare_Version:
		if c.Target != pb.Compare_VERSION {
			return ErrBadCompare
		}
	case *pb.Compare_CreateRevision:
		if c.Target != pb.Compare_CREATE {
			return ErrBadCompare
		}
	case *pb.Compare_ModRevision:
		if c.Target != pb.Compare_MOD {
			return ErrBadCompare
		}
	case *pb.Compare_Value:
		if c.Target != pb.Compare_VALUE {
			return ErrBadCompare
		}
	case *pb.Compare_Lease:
		if c.Target != pb.Compare_LEASE {
			return ErrBadCompare
		}
	}
	return nil
}

// branchWrites checks that no key is written twice, or both written and
// deleted, by one run of a branch, and returns the keys the branch may put and
// the ranges it may delete, nested transactions included. Following etcd's
// checkIntervals, the two branches of a nested transaction never both run, so
// they may write the same key; unlike etcd, a put in one nested transaction is
// also checked against deletes in the nested transactions after it, and a
// from-key delete covers every key after its start, so one revision never
// holds two versions of a key. The shape was validated first.
func branchWrites(ops []*pb.RequestOp) (map[string]struct{}, []keyRange, error) {
	var dels []keyRange
	for _, op := range ops {
		if d, ok := op.Request.(*pb.RequestOp_RequestDeleteRange); ok {
			dels = append(dels, keyRange{start: d.RequestDeleteRange.Key, end: d.RequestDeleteRange.RangeEnd})
		}
	}
	type nestedWrites struct {
		puts map[string]struct{}
		dels []keyRange
	}
	var nested []nestedWrites
	for _, op := range ops {
		t, ok := op.Request.(*pb.RequestOp_RequestTxn)
		if !ok {
			continue
		}
		putsThen, delsThen, err := branchWrites(t.RequestTxn.Success)
		if err != nil {
			return nil, nil, err
		}
		putsElse, delsElse, err := branchWrites(t.RequestTxn.Failure)
		if err != nil {
			return nil, nil, err
		}
		for k := range putsElse {
			putsThen[k] = struct{}{}
		}
		nested = append(nested, nestedWrites{puts: putsThen, dels: append(delsThen, delsElse...)})
	}
	puts := map[string]struct{}{}
	deleted := func(k string, skip int) bool {
		single := keyRange{start: []byte(k)}
		for _, d := range dels {
			if d.overlaps(single) {
				return true
			}
		}
		for i, n := range nested {
			if i == skip {
				continue
			}
			for _, d := range n.dels {
				if d.overlaps(single) {
					return true
				}
			}
		}
		return false
	}
	for i, n := range nested {
		for k := range n.puts {
			if _, dup := puts[k]; dup || deleted(k, i) {
				return nil, nil, ErrDuplicateKey
			}
		}
		for k := range n.puts {
			puts[k] = struct{}{}
		}
	}
	for _, op := range ops {
		p, ok := op.Request.(*pb.RequestOp_RequestPut)
		if !ok {
			continue
		}
		k := string(p.RequestPut.Key)
		if _, dup := puts[k]; dup || deleted(k, -1) {
			return nil, nil, ErrDuplicateKey
		}
		puts[k] = struct{}{}
	}
	for _, n := range nested {
		dels = append(dels, n.dels...)
	}
	return puts, dels, nil
}

// Txn runs a transaction: compares against the current state choose a branch
// (and, recursively, branches of nested transactions), then the chosen
// operations run at one new revision if any of them writes. Either every write
// applies or, when a check fails, none does.
func (s *Store) Txn(req *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := ValidateTxn(req, s.maxTxnOps); err != nil {
		return nil, err
	}
	path := s.txnPath(req, nil)
	charge, err := s.checkTxnPath(req, path, new(int))
	if err != nil {
		return nil, err
	}
	if err := s.checkQuota(charge); err != nil {
		return nil, err
	}
	w := s.newWriter()
	resp := w.txn(req, path, new(int))
	rev := w.commit()
	setTxnHeaders(resp, rev)
	return resp, nil
}

// txnPath evaluates the compares of a transaction and of the nested
// transactions on the taken branches, depth first, as etcd does.
func (s *Store) txnPath(req *pb.TxnRequest, path []bool) []bool {
	ok := s.compares(req.Compare)
	path = append(path, ok)
	for _, op := range branch(req, ok) {
		if t, isTxn := op.Request.(*pb.RequestOp_RequestTxn); isTxn {
			path = s.txnPath(t.RequestTxn, path)
		}
	}
	return path
}

func branch(req *pb.TxnRequest, ok bool) []*pb.RequestOp {
	if ok {
		return req.Success
	}
	return req.Failure
}

// checkTxnPath checks every write on the path against the current state and
// returns what the writes add to the quota.
func (s *Store) checkTxnPath(req *pb.TxnRequest, path []bool, idx *int) (int64, error) {
	ok := path[*idx]
	*idx++
	var charge int64
	for _, op := range branch(req, ok) {
		switch r := op.Request.(type) {
		case *pb.RequestOp_RequestPut:
			if err := s.checkPut(r.RequestPut); err != nil {
				return 0, err
			}
			charge += s.putCharge(r.RequestPut)
		case *pb.RequestOp_RequestRange:
			if r.RequestRange.Revision > 0 {
				if _, err := s.checkRev(r.RequestRange.Revision); err != nil {
					return 0, err
				}
			}
			if _, err := sortOrder(r.RequestRange); err != nil {
				return 0, err
			}
		case *pb.RequestOp_RequestTxn:
			c, err := s.checkTxnPath(r.RequestTxn, path, idx)
			if err != nil {
				return 0, err
			}
			charge += c
		}
	}
	return charge, nil
}

func (w *writer) txn(req *pb.TxnRequest, path []bool, idx *int) *pb.TxnResponse {
	ok := path[*idx]
	*idx++
	resp := &pb.TxnResponse{Succeeded: ok}
	for _, op := range branch(req, ok) {
		var out *pb.ResponseOp
		switch r := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			rr := w.rangeInTxn(r.RequestRange)
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: rr}}
		case *pb.RequestOp_RequestPut:
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: w.put(r.RequestPut)}}
		case *pb.RequestOp_RequestDeleteRange:
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: w.deleteRange(r.RequestDeleteRange)}}
		case *pb.RequestOp_RequestTxn:
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: w.txn(r.RequestTxn, path, idx)}}
		}
		resp.Responses = append(resp.Responses, out)
	}
	return resp
}

// rangeInTxn reads inside a transaction: with no revision given it sees the
// transaction's own earlier writes.
func (w *writer) rangeInTxn(req *pb.RangeRequest) *pb.RangeResponse {
	rev := req.Revision
	if rev <= 0 {
		rev = w.rev
	}
	order, _ := sortOrder(req) // validated by checkTxnPath
	return w.s.rangeAt(req, rev, order)
}

func setTxnHeaders(resp *pb.TxnResponse, rev int64) {
	resp.Header = &pb.ResponseHeader{Revision: rev}
	for _, r := range resp.Responses {
		switch v := r.Response.(type) {
		case *pb.ResponseOp_ResponseRange:
			v.ResponseRange.Header = &pb.ResponseHeader{Revision: rev}
		case *pb.ResponseOp_ResponsePut:
			v.ResponsePut.Header = &pb.ResponseHeader{Revision: rev}
		case *pb.ResponseOp_ResponseDeleteRange:
			v.ResponseDeleteRange.Header = &pb.ResponseHeader{Revision: rev}
		case *pb.ResponseOp_ResponseTxn:
			setTxnHeaders(v.ResponseTxn, rev)
		}
	}
}

// compares reports whether every compare holds against the current state.
func (s *Store) compares(cs []*pb.Compare) bool {
	for _, c := range cs {
		if !s.compare(c) {
			return false
		}
	}
	return true
}

func (s *Store) compare(c *pb.Compare) bool {
	var kvs []*mvccpb.KeyValue
	s.ascend(keyRange{start: c.Key, end: c.RangeEnd}, func(rec *keyRecord) bool {
		if kv, ok := rec.latest(); ok {
			kvs = append(kvs, kv)
		}
		return true
	})
	if len(kvs) == 0 {
		if c.Target == pb.Compare_VALUE {
			// A missing key has no value to compare: etcd fails the compare.
			return false
		}
		return compareKV(c, &mvccpb.KeyValue{})
	}
	for _, kv := range kvs {
		if !compareKV(c, kv) {
			return false
		}
	}
	return true
}

func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var r int
	switch c.Target {
	case pb.Compare_VALUE:
		r = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_VERSION:
		r = cmpInt(kv.Version, c.GetVersion())
	case pb.Compare_CREATE:
		r = cmpInt(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		r = cmpInt(kv.ModRevision, c.GetModRevision())
	case pb.Compare_LEASE:
		r = cmpInt(kv.Lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return r == 0
	case pb.Compare_NOT_EQUAL:
		return r != 0
	case pb.Compare_GREATER:
		return r > 0
	case pb.Compare_LESS:
		return r < 0
	}
	return false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ReadTxn runs a transaction that has no writes (the caller checked) against
// the current state, without a writer: safe under a read lock.
func (s *Store) ReadTxn(req *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := ValidateTxn(req, s.maxTxnOps); err != nil {
		return nil, err
	}
	path := s.txnPath(req, nil)
	if _, err := s.checkTxnPath(req, path, new(int)); err != nil {
		return nil, err
	}
	// A writer that never writes leaves the store untouched.
	w := &writer{s: s, rev: s.rev}
	resp := w.txn(req, path, new(int))
	setTxnHeaders(resp, s.rev)
	return resp, nil
}
