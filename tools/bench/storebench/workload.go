package storebench

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Client counts of the concurrent workloads.
const (
	txnClients   = 64
	watchWriters = 64
)

// rangeKey is the single key the range workloads read.
const rangeKey = "bench/range/key"

// maxCASAttempts bounds the retries of one compare-and-swap update.
const maxCASAttempts = 100

// workload is one measurement, run the same way against each store.
type workload struct {
	name    string
	clients int
	run     func(ctx context.Context, r *runner) (result, error)
}

// workloads returns the measurements in the order they are run.
func workloads() []workload {
	return []workload{
		{name: "put1", clients: 1, run: driveOp(putOp("bench/put1/"))},
		{name: "put64", clients: 64, run: driveOp(putOp("bench/put64/"))},
		{name: "put256", clients: 256, run: driveOp(putOp("bench/put256/"))},
		{name: "txn64", clients: txnClients, run: driveOp(casOp("bench/txn64/"))},
		{name: "rangeL1", clients: 1, run: withRangeKey(driveOp(getOp(rangeKey)))},
		{name: "rangeS1", clients: 1, run: withRangeKey(driveOp(getOp(rangeKey, clientv3.WithSerializable())))},
		{name: "watch64", clients: watchWriters, run: runWatch("bench/watch/")},
	}
}

// runWorkload runs w against the current leader of c.
func runWorkload(ctx context.Context, c *cluster, w workload, opts Options) (result, error) {
	leader, err := c.leader(ctx, opts.StartTimeout)
	if err != nil {
		return result{}, err
	}
	conns, err := connect(ctx, leader.endpoint, min(w.clients, opts.Conns))
	if err != nil {
		return result{}, fmt.Errorf("storebench: %s %s: %w", c.kind, w.name, err)
	}
	defer closeAll(conns)
	r := &runner{store: c.kind, workload: w.name, endpoint: leader.endpoint, conns: conns, clients: w.clients, opts: opts}
	res, err := w.run(ctx, r)
	if err != nil {
		return result{}, fmt.Errorf("storebench: %s %s: %w", c.kind, w.name, err)
	}
	if err := ctx.Err(); err != nil {
		return result{}, fmt.Errorf("storebench: %s %s: %w", c.kind, w.name, err)
	}
	if err := c.checkAlive(); err != nil {
		return result{}, err
	}
	c.log.Info("workload done", "workload", w.name, "leader", leader.Name,
		"ops", res.ops(), "ops_per_s", int(res.throughput()), "p50", res.p50(), "p99", res.p99(), "errors", res.errs)
	return res, nil
}

// driveOp makes a workload of op repeated by every client.
func driveOp(op opFunc) func(context.Context, *runner) (result, error) {
	return func(ctx context.Context, r *runner) (result, error) {
		s := r.drive(ctx, time.Now(), op)
		return newResult(r.store, r.workload, s.lat, s.errs, s.firstErr, s.elapsed), nil
	}
}

// withRangeKey writes rangeKey before running next.
func withRangeKey(next func(context.Context, *runner) (result, error)) func(context.Context, *runner) (result, error) {
	return func(ctx context.Context, r *runner) (result, error) {
		pctx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout)
		defer cancel()
		if _, err := r.conns[0].Put(pctx, rangeKey, string(make([]byte, r.opts.ValueSize))); err != nil {
			return result{}, fmt.Errorf("put %s: %w", rangeKey, err)
		}
		return next(ctx, r)
	}
}

// putOp puts the worker's value under a random key of prefix.
func putOp(prefix string) opFunc {
	return func(ctx context.Context, w *worker) error {
		k := w.key(prefix)
		if _, err := w.cli.Put(ctx, k, w.value()); err != nil {
			return fmt.Errorf("put %s: %w", k, err)
		}
		return nil
	}
}

// getOp reads key, linearizably unless opts say otherwise.
func getOp(key string, opts ...clientv3.OpOption) opFunc {
	return func(ctx context.Context, w *worker) error {
		resp, err := w.cli.Get(ctx, key, opts...)
		if err != nil {
			return fmt.Errorf("get %s: %w", key, err)
		}
		if len(resp.Kvs) != 1 {
			return fmt.Errorf("get %s: %d keys, want 1", key, len(resp.Kvs))
		}
		return nil
	}
}

var errCASExhausted = errors.New("storebench: compare-and-swap did not succeed")

// casOp is kube-apiserver's GuaranteedUpdate on one of the worker's own keys:
// read the key, then Txn(If(ModRevision == rev).Then(Put).Else(Get)) until the
// compare succeeds, taking the revision from the Else branch after each miss.
// A missing key has ModRevision 0, so the first update creates it.
func casOp(prefix string) opFunc {
	return func(ctx context.Context, w *worker) error {
		k := w.ownKey(prefix)
		g, err := w.cli.Get(ctx, k)
		if err != nil {
			return fmt.Errorf("get %s: %w", k, err)
		}
		var rev int64
		if len(g.Kvs) > 0 {
			rev = g.Kvs[0].ModRevision
		}
		for range maxCASAttempts {
			t, err := w.cli.Txn(ctx).
				If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).
				Then(clientv3.OpPut(k, w.value())).
				Else(clientv3.OpGet(k)).
				Commit()
			if err != nil {
				return fmt.Errorf("txn on %s at mod revision %d: %w", k, rev, err)
			}
			if t.Succeeded {
				return nil
			}
			rev = 0
			if len(t.Responses) > 0 {
				if rr := t.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
					rev = rr.Kvs[0].ModRevision
				}
			}
		}
		return fmt.Errorf("%w: %s after %d attempts", errCASExhausted, k, maxCASAttempts)
	}
}
