package schedbench

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/skiff-sh/skiff/tools/bench/benchflag"
)

// Options configure a run. Start from DefaultOptions.
type Options struct {
	// Nodes are the cluster sizes, run in order; the last is the final line's.
	Nodes []int
	// Pods is the number of pending pods scheduled at each size, per policy.
	Pods int
	// Workers decide pods in parallel (0: GOMAXPROCS); Binders caps attempts in flight (0: the
	// scheduler's default).
	Workers, Binders int
	// Store is "raft" (one member on disk, fsync) or "memory" (raft on in-memory log stores).
	Store string
	// Interrupt runs the wasm policy interruptibly, as uploaded modules run, instead of with
	// the built-in's runtime.Config.NoInterrupt.
	Interrupt bool
	// ScheduledEvents records a Normal Scheduled event per binding, as kube-scheduler does.
	ScheduledEvents bool
	// Module is the wasm policy; nil means the module built into the binary.
	Module []byte
	// Timeout bounds the scheduling of one size and policy.
	Timeout time.Duration
	// DecisionTime is how long the decision-only measurement runs per size and policy.
	DecisionTime time.Duration
	// TempDir is where stores are made; empty means os.TempDir.
	TempDir string
	Logger  *slog.Logger
}

// DefaultOptions are `skiff bench scheduler`'s defaults.
func DefaultOptions() Options {
	return Options{Nodes: []int{500, 5000}, Pods: 10000, Store: "raft", ScheduledEvents: true,
		Timeout: 5 * time.Minute, DecisionTime: time.Second}
}

// Validate reports every setting that cannot work.
func (o Options) Validate() error {
	var errs []error
	if len(o.Nodes) == 0 {
		errs = append(errs, errors.New("schedbench: no node counts"))
	}
	for _, n := range o.Nodes {
		if n < 1 || n > 100000 {
			errs = append(errs, fmt.Errorf("schedbench: node count %d: must be within [1, 100000]", n))
		}
	}
	if o.Pods < 1 || o.Pods > 1000000 {
		errs = append(errs, fmt.Errorf("schedbench: pods %d: must be within [1, 1000000]", o.Pods))
	}
	if o.Store != "raft" && o.Store != "memory" {
		errs = append(errs, fmt.Errorf("schedbench: store %q: want raft or memory", o.Store))
	}
	if o.Workers < 0 || o.Binders < 0 || o.Timeout <= 0 || o.DecisionTime <= 0 {
		errs = append(errs, errors.New("schedbench: workers must not be negative, timeouts must be positive"))
	}
	return errors.Join(errs...)
}

// RegisterFlags registers the options on fs, with DefaultOptions as defaults.
func RegisterFlags(fs *flag.FlagSet) *Options {
	o := DefaultOptions()
	fs.Var((*benchflag.Ints)(&o.Nodes), "nodes", "comma-separated cluster sizes; the final line reports the last")
	fs.IntVar(&o.Pods, "pods", o.Pods, "pending pods scheduled per size and policy")
	fs.IntVar(&o.Workers, "workers", o.Workers, "scheduler workers (0: GOMAXPROCS)")
	fs.IntVar(&o.Binders, "binders", o.Binders, "attempts in flight, deciding or binding (0: the scheduler's default)")
	fs.StringVar(&o.Store, "store", o.Store, "raft (one member on disk, fsync) or memory")
	fs.BoolVar(&o.Interrupt, "interrupt", o.Interrupt, "run the wasm policy interruptibly, as uploaded modules run")
	fs.BoolVar(&o.ScheduledEvents, "events", o.ScheduledEvents, "record a Scheduled event per binding, as kube-scheduler does")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "bound on scheduling one size with one policy")
	fs.DurationVar(&o.DecisionTime, "decision-time", o.DecisionTime, "duration of each decision-only measurement")
	return &o
}
