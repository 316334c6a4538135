// Package etcdapi serves the etcd v3 gRPC API (KV, Watch, Lease, Cluster and
// part of Maintenance) from a raftstore.Store, so etcdctl and
// go.etcd.io/etcd/client/v3 work against Skiff unchanged, and carries a
// follower's writes, read-index and lease calls to the leader over the same
// gRPC server (the Peer service and Forwarder).
//
// The layer is thin: the Store already takes and returns etcd's protobuf
// types. What lives here is the wire protocol around it: the watch stream
// (many watches on one stream, created/canceled responses, progress
// requests), the lease keep-alive stream, etcd's status codes and error
// strings (errors.go), and etcd's message size limits.
//
// Wiring one member:
//
//	fwd := etcdapi.NewForwarder()
//	cfg.Forwarder = fwd
//	cfg.ClientURL = "http://" + lis.Addr().String()
//	s, err := raftstore.Open(ctx, cfg)
//	fwd.SetStore(s)
//	gs := etcdapi.NewServer(s)
//	go gs.Serve(lis)
//
// See RATIONALE.md for the choices that differ from etcd.
package etcdapi
