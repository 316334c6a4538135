package etcdapi

import (
	"math"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/skiff-sh/skiff/raftstore"
)

// Version is the etcd version members report in Status. Clients gate
// features on it: kube-apiserver serves consistent lists from its watch
// cache only from etcd 3.4.31 / 3.5.13 on, whose watch progress requests
// behave as this package's do. The "+skiff" build suffix names the server
// without lowering the version's precedence, as a "-skiff" pre-release
// suffix would.
const Version = "3.5.21+skiff"

// RequestOverheadBytes is added to the store's MaxRequestBytes to get the
// gRPC receive limit, as etcd adds 512 KiB to --max-request-bytes: a request
// a little over the limit then reaches the store and fails with etcd's
// "request is too large" rather than a transport error.
const RequestOverheadBytes = 512 * 1024

// DefaultProgressNotifyInterval is how often a watch created with
// progress_notify hears of progress while idle (etcd's default).
const DefaultProgressNotifyInterval = 10 * time.Minute

// streamWorkers is the size of the gRPC server's goroutine pool.
const streamWorkers = 256

// Option adjusts the services Register installs.
type Option func(*options)

type options struct {
	progressInterval time.Duration
}

// WithProgressNotifyInterval sets how often idle watches created with
// progress_notify receive a progress notification.
func WithProgressNotifyInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.progressInterval = d
		}
	}
}

// ServerOptions are the gRPC settings etcd's server uses: a receive limit of
// the store's MaxRequestBytes plus RequestOverheadBytes, no send limit, no
// cap on concurrent streams, keepalive pings allowed every 5 seconds
// (kube-apiserver pings every 30), and the interceptors that refuse
// require-leader requests on a member without a leader (leader.go).
func ServerOptions(store *raftstore.Store) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(requireLeaderUnary(store)),
		grpc.ChainStreamInterceptor(requireLeaderStream(store)),
		grpc.MaxRecvMsgSize(store.MaxRequestBytes() + RequestOverheadBytes),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(math.MaxUint32),
		// Serve calls on a pool of long-lived goroutines: a new goroutine per
		// call grows its stack on every call (measured: 11% of the leader's
		// CPU at 64 clients). The pool covers a few hundred concurrent
		// calls; past it grpc spawns goroutines as usual.
		grpc.NumStreamWorkers(streamWorkers),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}
}

// NewServer returns a gRPC server with ServerOptions (then opts) and every
// service of Register installed with default options. The caller serves it
// and stops it before closing the store.
func NewServer(store *raftstore.Store, opts ...grpc.ServerOption) *grpc.Server {
	gs := grpc.NewServer(append(ServerOptions(store), opts...)...)
	Register(gs, store)
	return gs
}

// Register installs etcd's KV, Watch, Lease, Cluster and Maintenance
// services and Skiff's Peer service (the leader's side of Forwarder) on gs.
// gs should have been built with ServerOptions.
func Register(gs grpc.ServiceRegistrar, store *raftstore.Store, opts ...Option) {
	o := options{progressInterval: DefaultProgressNotifyInterval}
	for _, opt := range opts {
		opt(&o)
	}
	pb.RegisterKVServer(gs, &kvServer{store: store})
	pb.RegisterWatchServer(gs, &watchServer{store: store, opts: o})
	pb.RegisterLeaseServer(gs, &leaseServer{store: store})
	pb.RegisterClusterServer(gs, &clusterServer{store: store})
	pb.RegisterMaintenanceServer(gs, &maintenanceServer{store: store})
	registerPeer(gs, &peerServer{store: store})
}
