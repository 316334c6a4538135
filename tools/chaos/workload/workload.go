package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// Workload issues operations against a cluster and records them.
type Workload interface {
	// Name says what the workload does, for logs and reports.
	Name() string
	// Run records operations in rec until ctx ends, lets the operations in
	// flight complete, and returns. Its error is a setup failure; failed
	// operations are part of the history, not errors.
	Run(ctx context.Context, rec *history.Recorder) error
}

// Observer is a workload that watches what the others write (EtcdWatcher).
// Run stops observers only after the other workloads have returned, so an
// observer can catch up with their last writes.
type Observer interface {
	Workload
	observer()
}

// Finisher is a workload whose final state matters (the registers): Final
// records the value of each of its keys, read after the run.
type Finisher interface {
	Workload
	Final(ctx context.Context, rec *history.Recorder) error
}

// Run runs the workloads concurrently until ctx ends and returns the
// history recorded in rec. The observers keep running until the others have
// returned, then catch up and stop.
func Run(ctx context.Context, rec *history.Recorder, ws ...Workload) (history.History, error) {
	obsCtx, stopObservers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopObservers()
	var mu sync.Mutex
	var errs []error
	run := func(wg *sync.WaitGroup, ctx context.Context, w Workload) {
		wg.Go(func() {
			if err := w.Run(ctx, rec); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("workload %s: %w", w.Name(), err))
				mu.Unlock()
			}
		})
	}
	var writers, observers sync.WaitGroup
	for _, w := range ws {
		if _, ok := w.(Observer); ok {
			run(&observers, obsCtx, w)
		} else {
			run(&writers, ctx, w)
		}
	}
	writers.Wait()
	<-ctx.Done() // a workload may return early on a setup error; observers still watch the rest
	stopObservers()
	observers.Wait()
	return rec.History(), errors.Join(errs...)
}

// Final records the final value of every key of the workloads that have
// one (Finisher); ctx bounds the reads.
func Final(ctx context.Context, rec *history.Recorder, ws ...Workload) error {
	var errs []error
	for _, w := range ws {
		if f, ok := w.(Finisher); ok {
			if err := f.Final(ctx, rec); err != nil {
				errs = append(errs, fmt.Errorf("workload %s: final reads: %w", w.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// RegisterConfig configures a register workload.
type RegisterConfig struct {
	// Prefix starts every key (etcd) or ConfigMap name; a run tag follows,
	// so each run has fresh registers.
	Prefix string
	// Keys is the number of registers; Clients the number of concurrent
	// clients, each issuing one operation at a time.
	Keys, Clients int
	// Reads, Writes and CASes weigh the choice of the next operation.
	Reads, Writes, CASes int
	// OpTimeout bounds each operation; one that times out is Unknown
	// (reads: Fail).
	OpTimeout time.Duration
	// Seed seeds the clients' choices.
	Seed uint64
	// Logger receives operation errors at debug level.
	Logger *slog.Logger
}

// DefaultRegisterConfig returns 8 registers, 4 clients, reads:writes:cas
// 2:1:2, and a 2 s operation timeout.
func DefaultRegisterConfig() RegisterConfig {
	return RegisterConfig{
		Keys: 8, Clients: 4,
		Reads: 2, Writes: 1, CASes: 2,
		OpTimeout: 2 * time.Second,
		Seed:      uint64(time.Now().UnixNano()),
		Logger:    slog.New(slog.DiscardHandler),
	}
}

// Validate reports settings a register workload cannot run with.
func (c RegisterConfig) Validate() error {
	var errs []error
	if c.Keys < 1 {
		errs = append(errs, fmt.Errorf("workload: Keys %d: need at least one register", c.Keys))
	}
	if c.Clients < 1 {
		errs = append(errs, fmt.Errorf("workload: Clients %d: need at least one client", c.Clients))
	}
	if c.Reads < 0 || c.Writes < 0 || c.CASes < 0 || c.Reads+c.Writes+c.CASes == 0 {
		errs = append(errs, fmt.Errorf("workload: weights reads=%d writes=%d cas=%d: need non-negative weights, not all zero", c.Reads, c.Writes, c.CASes))
	}
	if c.OpTimeout <= 0 {
		errs = append(errs, fmt.Errorf("workload: OpTimeout %s must be positive", c.OpTimeout))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("workload: Logger is nil"))
	}
	return errors.Join(errs...)
}

// runTag names one run's registers: base-36 nanoseconds.
func runTag() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }
