package storebench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	// failoverCallTimeout bounds each put of the failover load, so a put stuck on
	// the dead leader is soon retried.
	failoverCallTimeout = 200 * time.Millisecond
	// failoverPreload is the most the load runs before the kill.
	failoverPreload = time.Second
)

// measureFailover kills c's leader with SIGKILL while one writer per member puts
// (each call bounded by failoverCallTimeout) and returns the time from the kill to
// the first put acknowledged by a survivor that was sent after the old leader was
// reaped — a put nobody but a new leader can have committed.
func measureFailover(ctx context.Context, c *cluster, opts Options) (time.Duration, error) {
	leader, err := c.leader(ctx, opts.StartTimeout)
	if err != nil {
		return 0, err
	}
	clis := make([]*clientv3.Client, len(c.members))
	for i, m := range c.members {
		cl, err := connect(ctx, m.endpoint, 1)
		if err != nil {
			closeAll(clis[:i])
			return 0, fmt.Errorf("storebench: failover on %s: %w", c.kind, err)
		}
		clis[i] = cl[0]
	}
	defer closeAll(clis)

	base := time.Now()
	var reaped atomic.Int64              // time since base at which the old leader was reaped; 0 before
	acked := make(chan time.Duration, 1) // first acknowledgement that counts
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopLoad(); wg.Wait() }()
	for i, m := range c.members {
		survivor := m != leader
		cli := clis[i]
		rng := rand.New(rand.NewPCG(uint64(base.UnixNano()), uint64(i)))
		val := string(randomValue(rng, opts.ValueSize))
		wg.Go(func() {
			for lctx.Err() == nil {
				sent := time.Since(base)
				pctx, cancel := context.WithTimeout(lctx, failoverCallTimeout)
				_, err := cli.Put(pctx, fmt.Sprintf("bench/failover/%05d", rng.IntN(opts.Keys)), val)
				cancel()
				if err != nil {
					select { // a refused connection fails at once: do not spin
					case <-lctx.Done():
					case <-time.After(errorBackoff):
					}
					continue
				}
				if r := reaped.Load(); survivor && r != 0 && sent > time.Duration(r) {
					select {
					case acked <- time.Since(base):
					default:
					}
				}
			}
		})
	}

	select {
	case <-ctx.Done():
		return 0, fmt.Errorf("storebench: failover on %s: %w", c.kind, ctx.Err())
	case <-time.After(min(failoverPreload, opts.Duration)):
	}
	c.log.Info("killing leader", "member", leader.Name, "pid", leader.Pid())
	killed := time.Since(base)
	if err := leader.Kill(); err != nil {
		return 0, err
	}
	reaped.Store(int64(time.Since(base)))

	select {
	case at := <-acked:
		d := at - killed
		c.log.Info("failover done", "killed", leader.Name, "first_ack_after", d)
		return d, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("storebench: failover on %s: %w", c.kind, ctx.Err())
	case <-time.After(opts.FailoverTimeout):
		return 0, fmt.Errorf("storebench: failover on %s: no put acknowledged by a survivor within %v of killing leader %s\n%s\n%s",
			c.kind, opts.FailoverTimeout, leader.Name, survivorTails(c, leader), leader.describe(c.kind))
	}
}

// survivorTails quotes the stderr of every member but dead.
func survivorTails(c *cluster, dead *member) string {
	var s string
	for _, m := range c.members {
		if m != dead {
			s += m.describe(c.kind) + "\n"
		}
	}
	return s
}
