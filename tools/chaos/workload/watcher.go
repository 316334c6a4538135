package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// WatchConfig configures an EtcdWatcher.
type WatchConfig struct {
	// Prefix is watched; it should contain the registers' keys.
	Prefix string
	// Watchers is the number of concurrent watchers.
	Watchers int
	// RestartEvery is how often (on average) a watcher cancels its watch on
	// purpose and resumes it, to exercise resumption; 0 never.
	RestartEvery time.Duration
	// CatchUp bounds how long a watcher, told to stop, waits for a progress
	// notification covering the store's current revision.
	CatchUp time.Duration
	// Seed seeds the restart jitter.
	Seed uint64
	// Logger receives watch errors at debug level.
	Logger *slog.Logger
}

// DefaultWatchConfig returns two watchers on DefaultEtcdPrefix restarting
// about every 3 s, catching up within 10 s.
func DefaultWatchConfig() WatchConfig {
	return WatchConfig{
		Prefix:       DefaultEtcdPrefix,
		Watchers:     2,
		RestartEvery: 3 * time.Second,
		CatchUp:      10 * time.Second,
		Seed:         uint64(time.Now().UnixNano()),
		Logger:       slog.New(slog.DiscardHandler),
	}
}

// Validate reports settings a watcher cannot run with.
func (c WatchConfig) Validate() error {
	var errs []error
	if c.Prefix == "" {
		errs = append(errs, errors.New("workload: watch Prefix is empty"))
	}
	if c.Watchers < 1 {
		errs = append(errs, fmt.Errorf("workload: Watchers %d: need at least one", c.Watchers))
	}
	if c.RestartEvery < 0 || c.CatchUp <= 0 {
		errs = append(errs, fmt.Errorf("workload: RestartEvery %s must not be negative and CatchUp %s must be positive", c.RestartEvery, c.CatchUp))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("workload: Logger is nil"))
	}
	return errors.Join(errs...)
}

// EtcdWatcher watches a prefix through the etcd v3 API and records every
// event as part of a watch session. A session ends when the stream breaks
// or the watcher restarts it; the next one resumes from the revision after
// the last event seen (after a compaction: from the compact revision). When
// told to stop, a watcher asks for progress until it is vouched to have
// every event through the store's revision at that moment, so the checker
// can hold it to every acknowledged write.
type EtcdWatcher struct {
	cfg  WatchConfig
	clis []*clientv3.Client
}

var _ Observer = (*EtcdWatcher)(nil)

// NewEtcdWatcher returns watchers over clis (watcher i uses
// clis[i%len(clis)]).
func NewEtcdWatcher(cfg WatchConfig, clis ...*clientv3.Client) (*EtcdWatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(clis) == 0 {
		return nil, errors.New("workload: etcd watcher: no etcd clients")
	}
	return &EtcdWatcher{cfg: cfg, clis: clis}, nil
}

// Name implements Workload.
func (w *EtcdWatcher) Name() string { return "etcd-watcher" }

func (w *EtcdWatcher) observer() {}

// Run implements Workload.
func (w *EtcdWatcher) Run(ctx context.Context, rec *history.Recorder) error {
	var wg sync.WaitGroup
	errs := make([]error, w.cfg.Watchers)
	for i := range w.cfg.Watchers {
		wg.Go(func() { errs[i] = w.watch(ctx, rec, i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// watch runs watcher i until ctx ends and it has caught up.
func (w *EtcdWatcher) watch(ctx context.Context, rec *history.Recorder, i int) error {
	cli := w.clis[i%len(w.clis)]
	rng := rand.New(rand.NewPCG(w.cfg.Seed, uint64(i)))
	id := rec.NewClient()
	// A stream of its own: the client shares one stream among watches with
	// the same metadata, and a progress request speaks for the whole stream.
	base := metadata.AppendToOutgoingContext(context.WithoutCancel(ctx), "skiff-chaos-watcher", strconv.Itoa(id))
	start, err := retry(ctx, func(c context.Context) (*clientv3.GetResponse, error) {
		return cli.Get(c, w.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	})
	if err != nil {
		return fmt.Errorf("watcher %d: reading the start revision of %s: %w", i, w.cfg.Prefix, err)
	}
	from := start.Header.GetRevision() + 1
	for {
		var restart <-chan time.Time
		if w.cfg.RestartEvery > 0 {
			restart = time.After(time.Duration(float64(w.cfg.RestartEvery) * (0.5 + rng.Float64())))
		}
		next, done := w.session(ctx, base, cli, rec, id, from, restart)
		from = next
		if done {
			return nil
		}
		if ctx.Err() == nil {
			select { // don't spin on a member that refuses watches
			case <-ctx.Done():
			case <-time.After(time.Duration(20+rng.IntN(80)) * time.Millisecond):
			}
		}
	}
}

// session runs one watch from rev from and returns where the next one
// starts, and whether the watcher has stopped (ctx ended and it caught up,
// or gave up catching up).
func (w *EtcdWatcher) session(ctx, base context.Context, cli *clientv3.Client, rec *history.Recorder, id int, from int64, restart <-chan time.Time) (int64, bool) {
	wctx, cancel := context.WithCancel(base)
	defer cancel()
	op := rec.Invoke(id, history.Watch, w.cfg.Prefix, history.Input{Rev: from})
	wch := cli.Watch(wctx, w.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithRev(from))
	var target int64 // while catching up: the revision to be vouched for
	var progressed int64
	var catchUp <-chan struct{}
	var ask *time.Ticker
	stopping := ctx.Done()
	for {
		var tick <-chan time.Time
		if ask != nil {
			tick = ask.C
		}
		select {
		case resp, ok := <-wch:
			if !ok {
				op.Fail(history.Output{}, errors.New("watch channel closed"))
				return from, target > 0
			}
			if err := resp.Err(); err != nil {
				if resp.CompactRevision > 0 {
					from = max(from, resp.CompactRevision) // what was compacted cannot be seen again
				}
				w.cfg.Logger.Debug("watch ended", "watcher", id, "from", from, "err", err)
				op.Fail(history.Output{}, err)
				return from, false
			}
			for _, ev := range resp.Events {
				op.Event(string(ev.Kv.Key), history.Output{Value: string(ev.Kv.Value), Rev: ev.Kv.ModRevision, Deleted: ev.Type == clientv3.EventTypeDelete})
				from = ev.Kv.ModRevision + 1
			}
			if resp.IsProgressNotify() {
				op.Progress(resp.Header.GetRevision())
				progressed = max(progressed, resp.Header.GetRevision())
			}
			if target > 0 && max(progressed, from-1) >= target {
				if ask != nil {
					ask.Stop()
				}
				op.OK(history.Output{})
				return from, true
			}
		case <-restart:
			op.OK(history.Output{})
			return from, false
		case <-stopping:
			stopping, restart = nil, nil
			cctx, ccancel := context.WithTimeout(base, w.cfg.CatchUp)
			defer ccancel()
			catchUp = cctx.Done()
			head, err := retry(cctx, func(c context.Context) (*clientv3.GetResponse, error) {
				return cli.Get(c, w.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			})
			if err != nil {
				op.OK(history.Output{})
				return from, true
			}
			target = head.Header.GetRevision()
			if from-1 >= target {
				op.OK(history.Output{})
				return from, true
			}
			ask = time.NewTicker(200 * time.Millisecond)
			defer ask.Stop()
			_ = cli.RequestProgress(wctx)
		case <-tick:
			_ = cli.RequestProgress(wctx)
		case <-catchUp:
			w.cfg.Logger.Debug("watcher did not catch up", "watcher", id, "target", target, "through", max(progressed, from-1))
			op.OK(history.Output{})
			return from, true
		}
	}
}
