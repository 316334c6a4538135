package raftstore

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/skiff-sh/skiff/raftstore/mvcc"
)

// Range reads keys. It is linearizable unless req.Serializable, in which case
// it reads the local replica as it is. Returned KeyValues are shared with the
// store and must not be modified.
func (s *Store) Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if len(req.Key) == 0 {
		return nil, ErrEmptyKey
	}
	if !req.Serializable {
		if err := s.linearize(ctx); err != nil {
			return nil, err
		}
	}
	var resp *pb.RangeResponse
	var err error
	s.fsm.read(func(kv *mvccStore) { resp, err = kv.Range(req) })
	if err != nil {
		return nil, err
	}
	resp.Header = s.header(resp.Header.GetRevision())
	return resp, nil
}

// Put writes a key.
func (s *Store) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	if len(req.Key) == 0 {
		return nil, ErrEmptyKey
	}
	resp, err := s.write(ctx, cmdPut, req)
	if err != nil {
		return nil, err
	}
	return resp.(*pb.PutResponse), nil
}

// DeleteRange deletes a key or a range of keys.
func (s *Store) DeleteRange(ctx context.Context, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if len(req.Key) == 0 {
		return nil, ErrEmptyKey
	}
	resp, err := s.write(ctx, cmdDeleteRange, req)
	if err != nil {
		return nil, err
	}
	return resp.(*pb.DeleteRangeResponse), nil
}

// Txn runs a transaction atomically at one revision. A transaction that only
// reads is served like a Range (without going through raft), linearizably.
func (s *Store) Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := mvcc.ValidateTxn(req, s.cfg.MaxTxnOps); err != nil {
		return nil, err
	}
	if isReadOnlyTxn(req) {
		if err := s.linearize(ctx); err != nil {
			return nil, err
		}
		var resp *pb.TxnResponse
		var err error
		s.fsm.read(func(kv *mvccStore) { resp, err = kv.ReadTxn(req) })
		if err != nil {
			return nil, err
		}
		resp.Header = s.header(resp.Header.GetRevision())
		return resp, nil
	}
	resp, err := s.write(ctx, cmdTxn, req)
	if err != nil {
		return nil, err
	}
	return resp.(*pb.TxnResponse), nil
}

// Compact discards history before a revision.
func (s *Store) Compact(ctx context.Context, req *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	resp, err := s.write(ctx, cmdCompact, &pb.CompactionRequest{Revision: req.Revision})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.CompactionResponse), nil
}

func (s *Store) write(ctx context.Context, t commandType, req proto.Message) (proto.Message, error) {
	resp, err := s.propose(ctx, t, req)
	if err != nil {
		return nil, err
	}
	setHeader(resp, s)
	return resp, nil
}

// setHeader stamps this member's header on a response, keeping its revision.
func setHeader(resp proto.Message, s *Store) {
	type headed interface{ GetHeader() *pb.ResponseHeader }
	rev := resp.(headed).GetHeader().GetRevision()
	h := s.header(rev)
	switch r := resp.(type) {
	case *pb.PutResponse:
		r.Header = h
	case *pb.DeleteRangeResponse:
		r.Header = h
	case *pb.TxnResponse:
		r.Header = h
	case *pb.CompactionResponse:
		r.Header = h
	}
}

// isReadOnlyTxn reports whether no branch of a transaction writes.
func isReadOnlyTxn(req *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{req.Success, req.Failure} {
		for _, op := range ops {
			switch r := op.Request.(type) {
			case *pb.RequestOp_RequestRange:
			case *pb.RequestOp_RequestTxn:
				if !isReadOnlyTxn(r.RequestTxn) {
					return false
				}
			default:
				return false
			}
		}
	}
	return true
}
