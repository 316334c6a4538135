package raftstore

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// commandType tags every raft log entry the store writes. The list is
// append-only: a value, once used, keeps its meaning forever.
//
// An entry of a type this binary does not know (written by a newer Skiff) is
// rejected by Apply with ErrUnknownCommand and changes nothing. Every replica
// of the same version makes the same choice, so they stay identical; mixed
// versions must not use a new type until every member knows it.
type commandType byte

const (
	cmdPut         commandType = 1 // pb.PutRequest
	cmdDeleteRange commandType = 2 // pb.DeleteRangeRequest
	cmdTxn         commandType = 3 // pb.TxnRequest
	cmdCompact     commandType = 4 // pb.CompactionRequest
	cmdLeaseGrant  commandType = 5 // pb.LeaseGrantRequest, ID chosen by the proposer
	cmdLeaseRevoke commandType = 6 // pb.LeaseRevokeRequest
	cmdSetMember   commandType = 7 // pb.Member: a member's name and URLs
	cmdBarrier     commandType = 8 // emptypb.Empty: a new leader's first entry, see runLeader
	cmdBatch       commandType = 9 // several commands in one entry, see batch.go
)

func (t commandType) String() string {
	switch t {
	case cmdPut:
		return "put"
	case cmdDeleteRange:
		return "delete-range"
	case cmdTxn:
		return "txn"
	case cmdCompact:
		return "compact"
	case cmdLeaseGrant:
		return "lease-grant"
	case cmdLeaseRevoke:
		return "lease-revoke"
	case cmdSetMember:
		return "set-member"
	case cmdBarrier:
		return "barrier"
	case cmdBatch:
		return "batch"
	}
	return fmt.Sprintf("unknown(%d)", byte(t))
}

// newRequest returns an empty request message for a command type.
func newRequest(t commandType) (proto.Message, bool) {
	switch t {
	case cmdPut:
		return &pb.PutRequest{}, true
	case cmdDeleteRange:
		return &pb.DeleteRangeRequest{}, true
	case cmdTxn:
		return &pb.TxnRequest{}, true
	case cmdCompact:
		return &pb.CompactionRequest{}, true
	case cmdLeaseGrant:
		return &pb.LeaseGrantRequest{}, true
	case cmdLeaseRevoke:
		return &pb.LeaseRevokeRequest{}, true
	case cmdSetMember:
		return &pb.Member{}, true
	case cmdBarrier:
		return &emptypb.Empty{}, true
	}
	return nil, false
}

// newResponse returns an empty response message for a command type.
func newResponse(t commandType) (proto.Message, bool) {
	switch t {
	case cmdPut:
		return &pb.PutResponse{}, true
	case cmdDeleteRange:
		return &pb.DeleteRangeResponse{}, true
	case cmdTxn:
		return &pb.TxnResponse{}, true
	case cmdCompact:
		return &pb.CompactionResponse{}, true
	case cmdLeaseGrant:
		return &pb.LeaseGrantResponse{}, true
	case cmdLeaseRevoke:
		return &pb.LeaseRevokeResponse{}, true
	case cmdSetMember:
		return &pb.MemberUpdateResponse{}, true
	case cmdBarrier:
		return &emptypb.Empty{}, true
	}
	return nil, false
}

// encodeCommand frames a request as one raft log entry: a type byte, then
// the request's protobuf encoding.
func encodeCommand(t commandType, req proto.Message) ([]byte, error) {
	buf := make([]byte, 1, 1+proto.Size(req))
	buf[0] = byte(t)
	buf, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(buf, req)
	if err != nil {
		return nil, fmt.Errorf("raftstore: encode %s command: %w", t, err)
	}
	return buf, nil
}

// decodeCommand is encodeCommand's inverse.
func decodeCommand(data []byte) (commandType, proto.Message, error) {
	if len(data) == 0 {
		return 0, nil, fmt.Errorf("%w: empty entry", ErrCorruptCommand)
	}
	t := commandType(data[0])
	req, ok := newRequest(t)
	if !ok {
		return t, nil, fmt.Errorf("%w: %d", ErrUnknownCommand, data[0])
	}
	if err := proto.Unmarshal(data[1:], req); err != nil {
		return t, nil, fmt.Errorf("%w: %s: %v", ErrCorruptCommand, t, err)
	}
	return t, req, nil
}

// applyResult is what Apply returns for one command; for a batch entry,
// batch holds one result per command in it.
type applyResult struct {
	resp  proto.Message
	err   error
	batch []applyResult
}

// encodeResult frames a result for forwarding to the member that proposed
// it: one byte of error code (see resultErrors), then the response or, for
// an error without a code, its message.
func encodeResult(res applyResult) ([]byte, error) {
	if res.err != nil {
		code := ErrorCode(res.err)
		if code < 0 {
			return append([]byte{255}, res.err.Error()...), nil
		}
		return []byte{byte(code)}, nil
	}
	out := []byte{0}
	if res.resp == nil {
		return out, nil
	}
	return proto.MarshalOptions{}.MarshalAppend(out, res.resp)
}

// decodeResult is encodeResult's inverse for a command of type t.
func decodeResult(t commandType, data []byte) (proto.Message, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty result", ErrCorruptCommand)
	}
	switch code := int(data[0]); {
	case code == 255:
		return nil, fmt.Errorf("raftstore: leader: %s", data[1:])
	case code != 0:
		err, ok := ErrorFromCode(code)
		if !ok {
			return nil, fmt.Errorf("%w: result code %d", ErrCorruptCommand, code)
		}
		return nil, err
	}
	resp, ok := newResponse(t)
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownCommand, byte(t))
	}
	if err := proto.Unmarshal(data[1:], resp); err != nil {
		return nil, fmt.Errorf("%w: %s result: %v", ErrCorruptCommand, t, err)
	}
	return resp, nil
}
