package etcdapi

import (
	"context"
	"errors"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiff-sh/skiff/raftstore"
)

// grpcErrors maps the store's sentinels to the status etcd returns for the
// same condition. The messages must stay exactly etcd's: clients recognise
// errors by message (rpctypes.Error), not by code.
var grpcErrors = []struct {
	err  error
	grpc error
}{
	{raftstore.ErrCompacted, rpctypes.ErrGRPCCompacted},
	{raftstore.ErrFutureRev, rpctypes.ErrGRPCFutureRev},
	{raftstore.ErrNoSpace, rpctypes.ErrGRPCNoSpace},
	{raftstore.ErrEmptyKey, rpctypes.ErrGRPCEmptyKey},
	{raftstore.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound},
	{raftstore.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{raftstore.ErrLeaseExists, rpctypes.ErrGRPCLeaseExist},
	{raftstore.ErrLeaseTTL, rpctypes.ErrGRPCLeaseTTLTooLarge},
	{raftstore.ErrTooManyOps, rpctypes.ErrGRPCTooManyOps},
	{raftstore.ErrDuplicateKey, rpctypes.ErrGRPCDuplicateKey},
	{raftstore.ErrInvalidSort, rpctypes.ErrGRPCInvalidSortOption},
	{raftstore.ErrValueProvided, rpctypes.ErrGRPCValueProvided},
	{raftstore.ErrLeaseProvided, rpctypes.ErrGRPCLeaseProvided},
	{raftstore.ErrRequestTooLarge, rpctypes.ErrGRPCRequestTooLarge},
	{raftstore.ErrNoLeader, rpctypes.ErrGRPCNoLeader},
	{raftstore.ErrNotLeader, rpctypes.ErrGRPCNotLeader},
	{raftstore.ErrLeaderChanged, rpctypes.ErrGRPCLeaderChanged},
	{raftstore.ErrTimeout, rpctypes.ErrGRPCTimeout},
	{raftstore.ErrStopped, rpctypes.ErrGRPCStopped},
	{raftstore.ErrUnknownMember, rpctypes.ErrGRPCMemberNotFound},
}

// toGRPCError converts an error from the store into the status etcd would
// send. Context errors become Canceled or DeadlineExceeded; errors with no
// etcd equivalent keep their message under a fitting code.
func toGRPCError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	for _, m := range grpcErrors {
		if errors.Is(err, m.err) {
			return m.grpc
		}
	}
	switch {
	case errors.Is(err, raftstore.ErrUnknownCommand), errors.Is(err, raftstore.ErrCorruptCommand):
		return status.Error(codes.Internal, "etcdserver: "+err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

// txnError converts an error from Txn; a malformed request gets a message
// that says which part is wrong.
func txnError(req *pb.TxnRequest, err error) error {
	if errors.Is(err, raftstore.ErrBadCompare) {
		return status.Error(codes.InvalidArgument, "etcdserver: malformed txn request: "+describeBadTxn(req, ""))
	}
	return toGRPCError(err)
}

// describeBadTxn finds the first malformed compare or operation in a
// transaction (nested ones included) and says what is wrong with it.
func describeBadTxn(req *pb.TxnRequest, path string) string {
	for i, c := range req.Compare {
		if msg := describeBadCompare(c); msg != "" {
			return fmt.Sprintf("%scompare[%d]: %s", path, i, msg)
		}
	}
	for _, br := range []struct {
		name string
		ops  []*pb.RequestOp
	}{{"success", req.Success}, {"failure", req.Failure}} {
		for i, op := range br.ops {
			where := fmt.Sprintf("%s%s[%d]", path, br.name, i)
			if op == nil || op.Request == nil {
				return where + ": empty request op"
			}
			if t, ok := op.Request.(*pb.RequestOp_RequestTxn); ok {
				if t.RequestTxn == nil {
					return where + ": empty nested txn"
				}
				if msg := describeBadTxn(t.RequestTxn, where+"."); msg != "" {
					return msg
				}
			}
		}
	}
	return "malformed compare"
}

func describeBadCompare(c *pb.Compare) string {
	if c == nil {
		return "empty compare"
	}
	if _, ok := pb.Compare_CompareResult_name[int32(c.Result)]; !ok {
		return fmt.Sprintf("key %q: unknown result %d", c.Key, c.Result)
	}
	if _, ok := pb.Compare_CompareTarget_name[int32(c.Target)]; !ok {
		return fmt.Sprintf("key %q: unknown target %d", c.Key, c.Target)
	}
	var given pb.Compare_CompareTarget
	switch c.TargetUnion.(type) {
	case nil:
		return ""
	case *pb.Compare_Version:
		given = pb.Compare_VERSION
	case *pb.Compare_CreateRevision:
		given = pb.Compare_CREATE
	case *pb.Compare_ModRevision:
		given = pb.Compare_MOD
	case *pb.Compare_Value:
		given = pb.Compare_VALUE
	case *pb.Compare_Lease:
		given = pb.Compare_LEASE
	default:
		return fmt.Sprintf("key %q: unknown target value %T", c.Key, c.TargetUnion)
	}
	if given != c.Target {
		return fmt.Sprintf("key %q: target is %s but the value given is a %s", c.Key, c.Target, given)
	}
	return ""
}
