package storebench

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"
)

// Options configure a benchmark run. Start from DefaultOptions.
type Options struct {
	// VsEtcd selects the side-by-side comparison with etcd, the only mode there is.
	VsEtcd bool
	// Duration is how long each workload runs against each store.
	Duration time.Duration
	// SkiffBin is the binary started as `SkiffBin server ...`; empty means the
	// running executable.
	SkiffBin string
	// EtcdBin is the etcd server binary (3.4 or later).
	EtcdBin string
	// Conns is the number of gRPC connections shared by the goroutines of a
	// multi-client workload.
	Conns int
	// Keys is the size of each workload's key space.
	Keys int
	// ValueSize is the size of every value written, in bytes.
	ValueSize int
	// StartTimeout bounds the wait for a cluster to become healthy: every member
	// answering Status, with a leader elected.
	StartTimeout time.Duration
	// FailoverTimeout bounds the wait for the first acknowledged write after the
	// Skiff leader is killed.
	FailoverTimeout time.Duration
	// OpTimeout bounds each operation of a workload.
	OpTimeout time.Duration
	// TempDir is where the run's scratch directory is made; empty means os.TempDir.
	TempDir string
	// Logger receives progress and diagnostics; nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the settings of `skiff bench store --vs-etcd`: a full
// run takes about 75 seconds on a two-core machine.
func DefaultOptions() Options {
	return Options{
		VsEtcd:          true,
		Duration:        5 * time.Second,
		EtcdBin:         "/usr/bin/etcd",
		Conns:           8,
		Keys:            10000,
		ValueSize:       256,
		StartTimeout:    30 * time.Second,
		FailoverTimeout: 30 * time.Second,
		OpTimeout:       10 * time.Second,
	}
}

// minValueSize leaves room for the send timestamp the watch workload writes.
const minValueSize = timestampLen

// maxValueSize stays under etcd's default request limit of 1.5 MiB.
const maxValueSize = 1 << 20

// Validate reports every setting that cannot work, or nil.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("storebench: "+format, args...))
	}
	if !o.VsEtcd {
		bad("only the --vs-etcd comparison is implemented")
	}
	if o.Duration <= 0 {
		bad("duration %v: must be positive", o.Duration)
	}
	if o.EtcdBin == "" {
		bad("etcd binary: empty path")
	}
	if o.Conns < 1 {
		bad("conns %d: need at least 1", o.Conns)
	}
	if o.Keys < txnClients {
		bad("keys %d: need at least %d, one per txn64 client", o.Keys, txnClients)
	}
	if o.ValueSize < minValueSize || o.ValueSize > maxValueSize {
		bad("value size %d: must be within [%d, %d] bytes", o.ValueSize, minValueSize, maxValueSize)
	}
	if o.StartTimeout <= 0 {
		bad("start timeout %v: must be positive", o.StartTimeout)
	}
	if o.FailoverTimeout <= 0 {
		bad("failover timeout %v: must be positive", o.FailoverTimeout)
	}
	if o.OpTimeout <= 0 {
		bad("op timeout %v: must be positive", o.OpTimeout)
	}
	return errors.Join(errs...)
}

// RegisterFlags defines the flags of `skiff bench store` on fs, with
// DefaultOptions as their defaults, and returns the Options they fill in when fs
// is parsed. Logger and TempDir are left for the caller.
func RegisterFlags(fs *flag.FlagSet) *Options {
	o := DefaultOptions()
	fs.BoolVar(&o.VsEtcd, "vs-etcd", o.VsEtcd, "compare with a three-member etcd started on loopback")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long each workload runs against each store")
	fs.StringVar(&o.SkiffBin, "skiff-bin", o.SkiffBin, "skiff binary to start as `skiff server` (default: this executable)")
	fs.StringVar(&o.EtcdBin, "etcd-bin", o.EtcdBin, "etcd server binary")
	fs.IntVar(&o.Conns, "conns", o.Conns, "gRPC connections shared by the clients of a multi-client workload")
	fs.IntVar(&o.Keys, "keys", o.Keys, "key space of each workload")
	fs.IntVar(&o.ValueSize, "value-size", o.ValueSize, "bytes per value")
	fs.DurationVar(&o.StartTimeout, "start-timeout", o.StartTimeout, "how long a cluster may take to elect a leader")
	fs.DurationVar(&o.FailoverTimeout, "failover-timeout", o.FailoverTimeout, "how long Skiff may take to accept a write after its leader is killed")
	fs.DurationVar(&o.OpTimeout, "op-timeout", o.OpTimeout, "timeout of each benchmark operation")
	return &o
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}
