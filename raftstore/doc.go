// Package raftstore is Skiff's replicated key-value store: the piece that
// replaces etcd. It replicates an etcd-style MVCC key space (package mvcc)
// with hashicorp/raft, keeping the raft log and stable state in raft-boltdb
// and snapshots as files.
//
// The Store's Go API is what etcd gives kube-apiserver: Range, Put,
// DeleteRange, Txn, Compact, Watch and leases, with etcd's request and
// response types so the etcd v3 gRPC API (package etcdapi) is a thin layer.
// Any member accepts any request: writes are forwarded to the leader, reads
// are linearizable by default (the leader confirms leadership once for many
// reads, then the member waits until it has applied that commit index) and
// serializable on request, and watches are served from the local replica.
//
// Apply is deterministic: everything that varies (lease IDs, for one) is
// decided by the proposer and travels in the command, and command types come
// from an append-only list (command.go).
package raftstore
