package storebench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchDrain bounds the wait for events of writes acknowledged before the end.
const watchDrain = 5 * time.Second

// runWatch measures watch delivery: one watcher on prefix, r.clients writers
// putting under it. A latency is from just before a Put to when the watcher
// receives its event; the operations counted are events received.
func runWatch(prefix string) func(context.Context, *runner) (result, error) {
	return func(ctx context.Context, r *runner) (result, error) {
		wconn, err := connect(ctx, r.endpoint, 1)
		if err != nil {
			return result{}, fmt.Errorf("watcher: %w", err)
		}
		defer closeAll(wconn)

		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wch := wconn[0].Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		if err := awaitCreated(ctx, wch, r.opts.OpTimeout); err != nil {
			return result{}, err
		}

		base := time.Now()
		col := &collector{base: base, done: make(chan struct{})}
		go col.run(wch)

		var acked atomic.Int64 // highest revision of an acknowledged put
		s := r.drive(ctx, base, func(ctx context.Context, w *worker) error {
			k := w.key(prefix)
			w.stamp()
			resp, err := w.cli.Put(ctx, k, w.value())
			if err != nil {
				return fmt.Errorf("put %s: %w", k, err)
			}
			for rev := resp.Header.Revision; ; {
				cur := acked.Load()
				if rev <= cur || acked.CompareAndSwap(cur, rev) {
					break
				}
			}
			return nil
		})

		drained := time.Now().Add(watchDrain)
		for col.seen.Load() < acked.Load() && time.Now().Before(drained) && !col.stopped() {
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
			if ctx.Err() != nil {
				break
			}
		}
		cancel()
		<-col.done

		errs, firstErr := s.errs, s.firstErr
		if col.err != nil {
			errs++
			firstErr = errors.Join(firstErr, col.err)
		}
		if missing := acked.Load() - col.seen.Load(); missing > 0 && col.err == nil {
			errs++
			firstErr = errors.Join(firstErr, fmt.Errorf("watch: events up to revision %d not seen %v after the writes ended (last seen %d)", acked.Load(), watchDrain, col.seen.Load()))
		}
		return newResult(r.store, r.workload, col.lat, errs, firstErr, s.elapsed), nil
	}
}

// awaitCreated waits for the watch's created notification.
func awaitCreated(ctx context.Context, wch clientv3.WatchChan, timeout time.Duration) error {
	select {
	case resp, ok := <-wch:
		if !ok {
			return errors.New("watch closed before it was created")
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("create watch: %w", err)
		}
		if !resp.Created {
			return errors.New("create watch: first response is not the created notification")
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		return fmt.Errorf("create watch: no created notification within %v", timeout)
	}
}

// collector receives watch events and records their delivery latency.
type collector struct {
	base time.Time
	lat  []time.Duration // owned by run until done is closed
	err  error           // why the watch ended, unless we cancelled it; valid after done
	seen atomic.Int64    // highest mod revision received
	done chan struct{}
}

func (c *collector) run(wch clientv3.WatchChan) {
	defer close(c.done)
	for resp := range wch {
		now := time.Since(c.base)
		if err := resp.Err(); err != nil {
			if !errors.Is(err, context.Canceled) {
				c.err = fmt.Errorf("watch: %w", err)
			}
			return
		}
		for _, ev := range resp.Events {
			if sent, ok := readStamp(ev.Kv.Value); ok {
				c.lat = append(c.lat, now-sent)
			}
			if ev.Kv.ModRevision > c.seen.Load() {
				c.seen.Store(ev.Kv.ModRevision)
			}
		}
	}
}

// stopped reports whether the watch has ended.
func (c *collector) stopped() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
