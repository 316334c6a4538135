package storebench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// opFunc is one operation of a workload; its latency is what gets recorded.
type opFunc func(ctx context.Context, w *worker) error

// worker is the state of one simulated client: a goroutine with its own random
// source and value buffer and a share of a gRPC connection.
type worker struct {
	id      int
	clients int // how many workers there are in the workload
	cli     *clientv3.Client
	rng     *rand.Rand
	val     []byte
	keys    int       // key space size
	base    time.Time // reference of the timestamps in values
}

// key returns a key drawn uniformly from the key space under prefix.
func (w *worker) key(prefix string) string {
	return fmt.Sprintf("%s%05d", prefix, w.rng.IntN(w.keys))
}

// ownKey returns a key from this worker's own slice of the key space.
func (w *worker) ownKey(prefix string) string {
	per := max(1, w.keys/w.clients)
	return fmt.Sprintf("%sc%03d/%05d", prefix, w.id, w.rng.IntN(per))
}

// value returns the value buffer as a string.
func (w *worker) value() string { return string(w.val) }

// stamp writes the time since base into the value's first bytes.
func (w *worker) stamp() { putStamp(w.val, time.Since(w.base)) }

// runner drives one workload against one store: its clients all talk to the
// store's leader through conns, goroutine i using conns[i mod len(conns)].
type runner struct {
	store    string
	workload string
	endpoint string // the leader's client endpoint
	conns    []*clientv3.Client
	clients  int
	opts     Options
}

// sample is the raw outcome of drive.
type sample struct {
	lat      []time.Duration
	errs     int
	firstErr error
	elapsed  time.Duration
}

// errorBackoff keeps a failing worker from spinning on a dead connection.
const errorBackoff = 10 * time.Millisecond

// drive runs op in a loop from r.clients goroutines until r.opts.Duration has
// passed; an operation under way at the end is waited for and counted. It
// returns early, with what it has, when ctx is done.
func (r *runner) drive(ctx context.Context, base time.Time, op opFunc) sample {
	type tally struct {
		lat      []time.Duration
		errs     int
		firstErr error
	}
	tallies := make([]tally, r.clients)
	start := time.Now()
	deadline := start.Add(r.opts.Duration)
	var wg sync.WaitGroup
	for i := range r.clients {
		w := &worker{
			id:      i,
			clients: r.clients,
			cli:     r.conns[i%len(r.conns)],
			rng:     rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i))),
			keys:    r.opts.Keys,
			base:    base,
		}
		w.val = randomValue(w.rng, r.opts.ValueSize)
		t := &tallies[i]
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				octx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout)
				t0 := time.Now()
				err := op(octx, w)
				d := time.Since(t0)
				cancel()
				if err == nil {
					t.lat = append(t.lat, d)
					continue
				}
				if ctx.Err() != nil {
					return
				}
				t.errs++
				if t.firstErr == nil {
					t.firstErr = err
				}
				select {
				case <-ctx.Done():
				case <-time.After(errorBackoff):
				}
			}
		})
	}
	wg.Wait()
	s := sample{elapsed: time.Since(start)}
	for _, t := range tallies {
		s.lat = append(s.lat, t.lat...)
		s.errs += t.errs
		if s.firstErr == nil {
			s.firstErr = t.firstErr
		}
	}
	return s
}

// randomValue returns size random lowercase letters.
func randomValue(rng *rand.Rand, size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = 'a' + byte(rng.IntN(26))
	}
	return v
}
