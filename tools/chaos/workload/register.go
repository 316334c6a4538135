package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// known is what a client last learned of a register.
type known struct {
	value string
	rev   int64 // the value's mod revision (resourceVersion), 0 if not known
}

// backend is one kind of register store.
type backend interface {
	read(ctx context.Context, key string) (history.Output, error)
	write(ctx context.Context, key, value string) (history.Output, error)
	// cas writes value if the register still holds expect. swapped is
	// false, with a nil error, when the compare failed; out then holds what
	// the backend learned (Observed value, if any).
	cas(ctx context.Context, key string, expect known, value string) (swapped bool, out history.Output, err error)
	// definite reports whether err proves that a write did not happen.
	definite(err error) bool
	// final reads key after the run, retrying until ctx ends.
	final(ctx context.Context, key string) (history.Output, error)
}

// registers runs cfg.Clients clients over keys on b.
type registers struct {
	cfg    RegisterConfig
	keys   []string
	b      backend
	values atomic.Int64
}

func (r *registers) run(ctx context.Context, rec *history.Recorder) {
	var wg sync.WaitGroup
	for i := range r.cfg.Clients {
		wg.Go(func() { r.client(ctx, rec, i) })
	}
	wg.Wait()
}

// client issues operations until ctx ends. Each runs to completion (or its
// own timeout) even when ctx ends meanwhile, so the history ends cleanly.
func (r *registers) client(ctx context.Context, rec *history.Recorder, i int) {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(i)))
	id := rec.NewClient()
	mem := map[string]known{}
	total := r.cfg.Reads + r.cfg.Writes + r.cfg.CASes
	for ctx.Err() == nil {
		key := r.keys[rng.IntN(len(r.keys))]
		f := history.Read
		switch n := rng.IntN(total); {
		case n < r.cfg.Reads:
		case n < r.cfg.Reads+r.cfg.Writes:
			f = history.Write
		default:
			f = history.CAS
		}
		if _, ok := mem[key]; f == history.CAS && !ok {
			f = history.Read // nothing to compare with yet
		}
		opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.OpTimeout)
		unknown := r.do(opCtx, rec, id, f, key, mem)
		cancel()
		if unknown {
			id = rec.NewClient() // at most one open operation per client id
		}
	}
}

// do runs one operation and reports whether its outcome is unknown.
func (r *registers) do(ctx context.Context, rec *history.Recorder, id int, f history.Func, key string, mem map[string]known) bool {
	switch f {
	case history.Read:
		op := rec.Invoke(id, f, key, history.Input{})
		out, err := r.b.read(ctx, key)
		if err != nil {
			r.cfg.Logger.Debug("read failed", "key", key, "err", err)
			op.Fail(history.Output{}, err) // a read changes nothing: its failure is certain
			return false
		}
		op.OK(out)
		mem[key] = known{out.Value, out.Rev}
		return false
	case history.Write:
		v := r.value(id)
		op := rec.Invoke(id, f, key, history.Input{Value: v})
		out, err := r.b.write(ctx, key, v)
		return r.complete(op, key, v, out, err, mem)
	default:
		v := r.value(id)
		exp := mem[key]
		op := rec.Invoke(id, f, key, history.Input{Value: v, Expect: exp.value})
		swapped, out, err := r.b.cas(ctx, key, exp, v)
		if err == nil && !swapped {
			out.Conflict = true
			op.Fail(out, fmt.Errorf("compare failed: %q is not %q", key, exp.value))
			if out.Observed {
				mem[key] = known{out.Value, out.Rev}
			} else {
				delete(mem, key) // read again before the next cas
			}
			return false
		}
		return r.complete(op, key, v, out, err, mem)
	}
}

func (r *registers) complete(op history.Op, key, v string, out history.Output, err error, mem map[string]known) bool {
	switch {
	case err == nil:
		op.OK(out)
		mem[key] = known{v, out.Rev}
		return false
	case r.b.definite(err):
		r.cfg.Logger.Debug("write failed", "key", key, "err", err)
		op.Fail(history.Output{}, err)
		return false
	default:
		r.cfg.Logger.Debug("write outcome unknown", "key", key, "err", err)
		op.Unknown(err)
		delete(mem, key)
		return true
	}
}

// value returns a value no other write of the run uses.
func (r *registers) value(client int) string {
	return fmt.Sprintf("c%d-%d", client, r.values.Add(1))
}

// final records the value of every key.
func (r *registers) final(ctx context.Context, rec *history.Recorder) error {
	id := rec.NewClient()
	for _, key := range r.keys {
		out, err := r.b.final(ctx, key)
		if err != nil {
			return fmt.Errorf("reading %s: %w", key, err)
		}
		rec.Final(id, key, out)
	}
	return nil
}
