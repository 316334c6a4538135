package apibench

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Options configure a benchmark run. Start from DefaultOptions.
type Options struct {
	// Pods is the number of pods created, and of raw store puts written.
	Pods int
	// Workers is the number of concurrent clients in each phase.
	Workers int
	// SkiffBin is started as `SkiffBin server ...`; empty means this executable.
	SkiffBin string
	// ServerArgs are extra flags for every `skiff server`, such as
	// --unsafe-no-fsync.
	ServerArgs []string
	// JSON makes client-go send and accept JSON. By default its typed
	// clients of built-in types send protobuf and accept protobuf or JSON.
	JSON bool
	// Keep leaves the scratch directory (data dirs, kubeconfigs, server logs)
	// in place and logs where it is.
	Keep bool
	// Verbose adds per-server rows to the table.
	Verbose bool
	// PprofDir, if set, starts every server with --debug-addr and saves a CPU
	// profile of each, taken during the create phase, as <name>.cpu.pprof there.
	PprofDir string
	// PprofSeconds is how long each of those profiles samples.
	PprofSeconds int
	// StartTimeout bounds the wait for all servers to answer /readyz.
	StartTimeout time.Duration
	// OpTimeout bounds each create and each put.
	OpTimeout time.Duration
	// WatchTimeout bounds the wait, after the last create, for the remaining
	// ADDED events.
	WatchTimeout time.Duration
	// TempDir is where the scratch directory is made; empty means os.TempDir.
	TempDir string
	// Logger receives progress and diagnostics; nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the settings of `skiff bench api`.
func DefaultOptions() Options {
	return Options{
		Pods:         10000,
		Workers:      32,
		PprofSeconds: 10,
		StartTimeout: 60 * time.Second,
		OpTimeout:    30 * time.Second,
		WatchTimeout: 30 * time.Second,
	}
}

// Validate reports every setting that cannot work, or nil.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("apibench: "+format, args...))
	}
	if o.Pods < 1 || o.Pods > maxPods {
		bad("pods %d: must be within [1, %d]", o.Pods, maxPods)
	}
	if o.Workers < 1 {
		bad("workers %d: need at least 1", o.Workers)
	}
	if o.PprofDir != "" && o.PprofSeconds < 1 {
		bad("pprof seconds %d: need at least 1", o.PprofSeconds)
	}
	if o.StartTimeout <= 0 {
		bad("start timeout %v: must be positive", o.StartTimeout)
	}
	if o.OpTimeout <= 0 {
		bad("op timeout %v: must be positive", o.OpTimeout)
	}
	if o.WatchTimeout <= 0 {
		bad("watch timeout %v: must be positive", o.WatchTimeout)
	}
	return errors.Join(errs...)
}

// RegisterFlags defines the flags of `skiff bench api` on fs, with
// DefaultOptions as their defaults, and returns the Options they fill in when
// fs is parsed. Logger and TempDir are left for the caller.
func RegisterFlags(fs *flag.FlagSet) *Options {
	o := DefaultOptions()
	fs.IntVar(&o.Pods, "pods", o.Pods, "pods to create (and raw store puts to write)")
	fs.IntVar(&o.Workers, "workers", o.Workers, "concurrent clients, spread over the three servers")
	fs.StringVar(&o.SkiffBin, "skiff-bin", o.SkiffBin, "`path` of the skiff binary to start as the three servers (default: this executable)")
	fs.Func("server-args", "extra `flags` for every skiff server, space-separated (e.g. --unsafe-no-fsync)", func(s string) error {
		o.ServerArgs = strings.Fields(s)
		return nil
	})
	fs.BoolVar(&o.JSON, "json", o.JSON, "talk JSON to the API (default: what client-go's typed clients do for built-in types: protobuf bodies, protobuf or JSON answers)")
	fs.BoolVar(&o.Keep, "keep", o.Keep, "keep the servers' data dirs and logs")
	fs.BoolVar(&o.Verbose, "verbose", o.Verbose, "per-server figures in the table")
	fs.StringVar(&o.PprofDir, "pprof-dir", o.PprofDir, "save a CPU profile of every server, taken during the create phase, in this directory")
	fs.IntVar(&o.PprofSeconds, "pprof-seconds", o.PprofSeconds, "length of those profiles")
	fs.DurationVar(&o.StartTimeout, "start-timeout", o.StartTimeout, "how long the servers may take to answer /readyz")
	fs.DurationVar(&o.OpTimeout, "op-timeout", o.OpTimeout, "timeout of each create and put")
	fs.DurationVar(&o.WatchTimeout, "watch-timeout", o.WatchTimeout, "how long to wait for the last ADDED events after the last create")
	return &o
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}
