package etcdapi

import (
	"context"
	"encoding/json"
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/skiff-sh/skiff/raftstore"
)

// The Peer service is the leader's side of Forwarder, served next to the
// etcd API. It is defined by hand (there is no .proto): every message is a
// well-known protobuf type or one of etcd's.
//
//	Propose(BytesValue encoded command) returns (BytesValue encoded result)
//	ReadIndex(Empty) returns (UInt64Value index)
//	LeaseKeepAlive(Int64Value lease ID) returns (Int64Value TTL)
//	LeaseTimeToLive(etcd LeaseTimeToLiveRequest) returns (etcd LeaseTimeToLiveResponse)
//	Status(Empty) returns (BytesValue JSON of raftstore.Status): any member answers for itself
//
// An error the store knows crosses as a status whose details hold its
// raftstore.ErrorCode in an Int64Value, so the follower gets back the same
// sentinel.
const peerServiceName = "skiff.raftstore.v1.Peer"

const (
	methodPropose         = "/" + peerServiceName + "/Propose"
	methodReadIndex       = "/" + peerServiceName + "/ReadIndex"
	methodLeaseKeepAlive  = "/" + peerServiceName + "/LeaseKeepAlive"
	methodLeaseTimeToLive = "/" + peerServiceName + "/LeaseTimeToLive"
	methodStatus          = "/" + peerServiceName + "/Status"
)

// peerService is what the Peer service's handlers call.
type peerService interface {
	Propose(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
	ReadIndex(context.Context, *emptypb.Empty) (*wrapperspb.UInt64Value, error)
	LeaseKeepAlive(context.Context, *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error)
	LeaseTimeToLive(context.Context, *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error)
	Status(context.Context, *emptypb.Empty) (*wrapperspb.BytesValue, error)
}

var peerServiceDesc = grpc.ServiceDesc{
	ServiceName: peerServiceName,
	HandlerType: (*peerService)(nil),
	Methods: []grpc.MethodDesc{
		unaryMethod(methodPropose, peerService.Propose),
		unaryMethod(methodReadIndex, peerService.ReadIndex),
		unaryMethod(methodLeaseKeepAlive, peerService.LeaseKeepAlive),
		unaryMethod(methodLeaseTimeToLive, peerService.LeaseTimeToLive),
		unaryMethod(methodStatus, peerService.Status),
	},
	Metadata: "raftstore/etcdapi/peer.go",
}

// unaryMethod builds the method descriptor protoc would generate for a
// unary call of peerService.
func unaryMethod[Req, Resp proto.Message](fullName string, call func(peerService, context.Context, Req) (Resp, error)) grpc.MethodDesc {
	name := fullName[len("/"+peerServiceName+"/"):]
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			var req Req
			req = req.ProtoReflect().Type().New().Interface().(Req)
			if err := dec(req); err != nil {
				return nil, err
			}
			if interceptor == nil {
				return call(srv.(peerService), ctx, req)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: fullName}
			return interceptor(ctx, req, info, func(ctx context.Context, req any) (any, error) {
				return call(srv.(peerService), ctx, req.(Req))
			})
		},
	}
}

func registerPeer(gs grpc.ServiceRegistrar, srv peerService) {
	gs.RegisterService(&peerServiceDesc, srv)
}

// peerServer answers forwarded calls with the store's Leader* methods.
type peerServer struct {
	store *raftstore.Store
}

func (p *peerServer) Propose(ctx context.Context, req *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	out, err := p.store.LeaderPropose(ctx, req.GetValue())
	if err != nil {
		return nil, peerError(err)
	}
	return wrapperspb.Bytes(out), nil
}

func (p *peerServer) ReadIndex(ctx context.Context, _ *emptypb.Empty) (*wrapperspb.UInt64Value, error) {
	idx, err := p.store.LeaderReadIndex(ctx)
	if err != nil {
		return nil, peerError(err)
	}
	return wrapperspb.UInt64(idx), nil
}

func (p *peerServer) LeaseKeepAlive(ctx context.Context, req *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error) {
	ttl, err := p.store.LeaderLeaseKeepAlive(ctx, req.GetValue())
	if err != nil {
		return nil, peerError(err)
	}
	return wrapperspb.Int64(ttl), nil
}

func (p *peerServer) LeaseTimeToLive(ctx context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	resp, err := p.store.LeaderLeaseTimeToLive(ctx, req)
	if err != nil {
		return nil, peerError(err)
	}
	return resp, nil
}

// Status answers with this member's own raftstore.Status, as JSON.
func (p *peerServer) Status(ctx context.Context, _ *emptypb.Empty) (*wrapperspb.BytesValue, error) {
	st, err := p.store.Status(ctx)
	if err != nil {
		return nil, peerError(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode status: %v", err)
	}
	return wrapperspb.Bytes(b), nil
}

// peerError turns a store error into a status that carries its error code
// (see fromPeerStatus). The status code is the one etcd would use, for logs
// and tools that look at codes only.
func peerError(err error) error {
	code := raftstore.ErrorCode(err)
	if code <= 0 {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return status.FromContextError(err).Err()
		}
		return status.Error(codes.Unknown, err.Error())
	}
	st, detailErr := status.New(status.Code(toGRPCError(err)), err.Error()).WithDetails(wrapperspb.Int64(int64(code)))
	if detailErr != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return st.Err()
}

// fromPeerStatus recovers the store's sentinel from a status sent by
// peerError; ok is false if the status carries no known code.
func fromPeerStatus(st *status.Status) (err error, ok bool) {
	for _, d := range st.Details() {
		if v, isCode := d.(*wrapperspb.Int64Value); isCode {
			return raftstore.ErrorFromCode(int(v.GetValue()))
		}
	}
	return nil, false
}
