package apibench

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// clock measures every time of a run on this process's monotonic clock, as
// durations since one base instant.
type clock struct{ base time.Time }

func (c clock) now() time.Duration { return time.Since(c.base) }

// phaseResult is one phase of the benchmark: every operation's outcome, all
// of them and each server's share.
type phaseResult struct {
	all       samples
	perServer []samples
	start     []time.Duration // per operation: just before it was sent
	ok        []bool          // per operation: succeeded
	via       []int           // per operation: the server it was sent to
	firstErr  error
}

// op performs operation i through server s.
type op func(ctx context.Context, s, i int) error

// runPhase performs operations 0..n-1 with workers goroutines, worker w
// sending its operations to server w mod servers, each bounded by opTimeout.
// The phase's elapsed time runs from before the first operation to the last
// answer.
func runPhase(ctx context.Context, what string, n, workers, servers int, opTimeout time.Duration, clk clock, log *slog.Logger, do op) phaseResult {
	res := phaseResult{start: make([]time.Duration, n), ok: make([]bool, n), via: make([]int, n)}
	type worker struct {
		lat      []time.Duration
		errs     int
		firstErr error
	}
	ws := make([]worker, workers)
	var next, done atomic.Int64
	stopProgress := progress(log, what, &done, n)
	began := clk.now()
	var wg sync.WaitGroup
	for w := range ws {
		s := w % servers
		me := &ws[w]
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				res.via[i] = s
				octx, cancel := context.WithTimeout(ctx, opTimeout)
				res.start[i] = clk.now()
				err := do(octx, s, i)
				d := clk.now() - res.start[i]
				cancel()
				done.Add(1)
				if err != nil {
					me.errs++
					if me.firstErr == nil {
						me.firstErr = fmt.Errorf("%s %d: %w", what, i, err)
					}
					continue
				}
				res.ok[i] = true
				me.lat = append(me.lat, d)
			}
		})
	}
	wg.Wait()
	elapsed := clk.now() - began
	stopProgress()

	var all []time.Duration
	errs := 0
	per := make([][]time.Duration, servers)
	perErrs := make([]int, servers)
	for w, me := range ws {
		all = append(all, me.lat...)
		errs += me.errs
		per[w%servers] = append(per[w%servers], me.lat...)
		perErrs[w%servers] += me.errs
		if res.firstErr == nil {
			res.firstErr = me.firstErr
		}
	}
	res.all = newSamples(all, errs, elapsed)
	for s := range per {
		res.perServer = append(res.perServer, newSamples(per[s], perErrs[s], elapsed))
	}
	return res
}

// progress logs done/total every few seconds until the returned function is called.
func progress(log *slog.Logger, what string, done *atomic.Int64, total int) func() {
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				log.Info("progress", "phase", what, "done", done.Load(), "of", total)
			}
		}
	}()
	return func() { close(stop); <-finished }
}
