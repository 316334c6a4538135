package raftstore

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// Config configures one member of a store. Start from DefaultConfig.
type Config struct {
	// Name is the member's raft server ID and etcd member name.
	Name string
	// Dir holds the raft log (raft.db) and snapshots. Empty means in memory
	// (tests): LogStore, StableStore and SnapshotStore must then be set.
	Dir string
	// Transport carries raft RPCs. Required.
	Transport raft.Transport
	// LogStore, StableStore and SnapshotStore override the on-disk stores.
	LogStore      raft.LogStore
	StableStore   raft.StableStore
	SnapshotStore raft.SnapshotStore
	// Bootstrap is the initial configuration, used only if the member has no
	// raft state yet. Every member of a new cluster may be given the same one.
	Bootstrap []raft.Server
	// ClientURL is this member's advertised etcd API address, recorded in the
	// replicated member list (etcd's client URLs).
	ClientURL string
	// Forwarder carries requests to the leader when this member is a follower.
	Forwarder Forwarder
	// ClusterID is reported in response headers.
	ClusterID uint64
	Logger    *slog.Logger

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	MaxAppendEntries   int
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64
	// NoSync skips fsync of the raft log: only for tests and benchmarks that
	// say so; an acknowledged write may then be lost on power failure.
	NoSync bool

	// QuotaBytes is the storage quota (etcd's --quota-backend-bytes).
	QuotaBytes int64
	// MaxRequestBytes caps an encoded request (etcd's --max-request-bytes).
	MaxRequestBytes int
	// MaxTxnOps caps operations per transaction branch.
	MaxTxnOps int
	// RequestTimeout bounds a request whose context has no deadline.
	RequestTimeout time.Duration
	// LeaseCheckInterval is how often the leader looks for expired leases.
	LeaseCheckInterval time.Duration
	// MinLeaseTTL is the smallest TTL granted, in seconds (etcd's rule:
	// shorter would expire on a leader change).
	MinLeaseTTL int64
}

// DefaultConfig returns settings tuned for a three-member cluster on one
// machine or a LAN: fast failure detection and large append batches.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		MaxAppendEntries:   64,
		SnapshotThreshold:  16384,
		SnapshotInterval:   30 * time.Second,
		TrailingLogs:       10240,
		QuotaBytes:         2 << 30,
		MaxRequestBytes:    1536 * 1024,
		MaxTxnOps:          128,
		RequestTimeout:     7 * time.Second,
		LeaseCheckInterval: 250 * time.Millisecond,
		MinLeaseTTL:        2,
		Logger:             slog.Default(),
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("raftstore: config: Name is required")
	case c.Transport == nil:
		return errors.New("raftstore: config: Transport is required")
	case c.Dir == "" && (c.LogStore == nil || c.StableStore == nil || c.SnapshotStore == nil):
		return errors.New("raftstore: config: Dir or all of LogStore, StableStore and SnapshotStore are required")
	case c.MaxRequestBytes <= 0:
		return fmt.Errorf("raftstore: config: MaxRequestBytes %d must be positive", c.MaxRequestBytes)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("raftstore: config: RequestTimeout %s must be positive", c.RequestTimeout)
	case c.LeaseCheckInterval <= 0:
		return fmt.Errorf("raftstore: config: LeaseCheckInterval %s must be positive", c.LeaseCheckInterval)
	case c.Logger == nil:
		return errors.New("raftstore: config: Logger is required")
	}
	return nil
}

func (c *Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.Name)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.MaxAppendEntries = c.MaxAppendEntries
	// BatchApplyCh stays off: with a buffered apply channel, an Apply that
	// races raft's shutdown is never answered (its future has no shutdown
	// channel). The leader still commits in groups: it drains every Apply
	// already waiting on the unbuffered channel into one dispatch.
	rc.BatchApplyCh = false
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	rc.Logger = newHclog(c.Logger.With("component", "raft"))
	return rc
}
