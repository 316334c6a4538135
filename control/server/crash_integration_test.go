//go:build integration

package server_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The crash test's load and timings. The whole test stays well under a
// minute on a two-core machine.
const (
	crashWriters    = 32 // each writes its own keys, one at a time
	crashCASKeys    = 2  // counters incremented by compare-and-swap
	crashCASWorkers = 4  // spread over the keys and the members
	crashLoad       = 3 * time.Second
	crashOpTimeout  = 5 * time.Second
	crashStartup    = 20 * time.Second // process start to an elected leader
	crashConverge   = 20 * time.Second // restart to every member caught up
	crashLogTail    = 40               // log lines shown per member on failure
)

// TestCrashDurability is the store's durability check with real processes:
// three `skiff server` members on loopback take many acknowledged writes,
// are killed with SIGKILL and restarted on the same data directories, and
// every acknowledged write must be there, on every member, at the revision
// it was acknowledged at.
//
// Cycle 1 kills the leader alone mid-load and restarts it while the others
// keep taking writes: it must catch up. Cycles 2 and 3 kill all three at
// once while writes are in flight, so cycle 3 restarts from a log that was
// itself recovered. A write whose call failed or was cut off by the kill is
// unknown: it may or may not be there, and its writer retries it (same key,
// same value) in the next cycle.
func TestCrashDurability(t *testing.T) {
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Skip("SKIFF_BIN is unset: set it to a built skiff binary (make build; SKIFF_BIN=$PWD/bin/skiff)")
	}
	c := startProcCluster(t, bin, 3)
	took := c.waitLeader(t, crashStartup, c.members...)
	t.Logf("cluster up, leader elected after %v", took.Round(time.Millisecond))
	h := newHistory()

	t.Run("kill leader alone", func(t *testing.T) {
		c.checkAlive(t)
		victim := c.leader(t)
		l := startLoad(c, h)
		time.Sleep(crashLoad / 3)
		c.kill(t, victim)
		ackedAt := l.ackCount.Load()
		var survivors []*memberProc
		for _, m := range c.members {
			if m != victim {
				survivors = append(survivors, m)
			}
		}
		failover := c.waitLeader(t, crashStartup, survivors...)
		time.Sleep(crashLoad / 3) // the survivors take writes
		whileDown := l.ackCount.Load() - ackedAt
		c.start(t, victim)
		time.Sleep(crashLoad / 3)
		l.stop()
		t.Logf("killed leader %s: new leader after %v, %d writes acknowledged while it was down; %s",
			victim.name, failover.Round(time.Millisecond), whileDown, l.summary())
		if whileDown == 0 {
			t.Errorf("no write acknowledged while %s was down", victim.name)
		}
		c.waitLeader(t, crashStartup, c.members...)
		l.checkErrors(t)
		h.verify(t, c)
	})
	for cycle := 2; cycle <= 3 && !t.Failed(); cycle++ {
		t.Run(fmt.Sprintf("kill all %d", cycle), func(t *testing.T) {
			c.checkAlive(t)
			l := startLoad(c, h)
			time.Sleep(crashLoad)
			c.kill(t, c.members...) // while writes are in flight
			l.abort()
			t.Logf("killed all three while %s", l.summary())
			l.checkErrors(t)
			for _, m := range c.members {
				c.start(t, m)
			}
			took := c.waitLeader(t, crashStartup, c.members...)
			t.Logf("restarted: leader elected after %v", took.Round(time.Millisecond))
			h.verify(t, c)
		})
	}
	if !t.Failed() {
		h.logTotals(t)
	}
	// The members snapshot every 2048 entries: restarts above restored
	// from a snapshot plus a log suffix. A member without one means the
	// snapshot path went untested.
	for _, m := range c.members {
		snaps, err := filepath.Glob(filepath.Join(m.dataDir, "snapshots", "*", "state.bin"))
		if err != nil || len(snaps) == 0 {
			t.Errorf("%s took no snapshot (%v): the restore path was not exercised", m.name, err)
		}
	}
	c.logLogSummary(t)
}

// history is every acknowledged write of the test, kept across cycles.
type history struct {
	writers []*writer
	cas     []*casKey
}

// writer writes crash/<id>/<seq> = seq and then crash/<id>/counter = seq,
// for seq = 1, 2, ..., one call at a time, retrying a call that failed with
// the same key and value until it is acknowledged. The check assumes that a
// failed attempt never lands after its retry was acknowledged: under raft
// it either committed before the next leader's first entry or was dropped.
type writer struct {
	id   int
	home int // index of the member it starts each cycle on
	// seq is the pending sequence number; dataRevs[n-1] is the revision
	// crash/<id>/<n> was acknowledged at, for every n < seq, and for n = seq
	// too once counterPhase is set.
	seq          int
	counterPhase bool
	dataRevs     []int64
	counterRev   int64 // revision of the acknowledged counter = seq-1
	// unsure: a call for the pending write failed or was cut off, so it may
	// be in the store.
	unsure  bool
	lastRev int64 // last acknowledged revision, for the order check
	badRevs []string
	acked   int // acknowledged calls
	errs    int
}

// casKey is a counter at crash/cas/<id> incremented by read, then
// compare-and-swap on the mod revision read.
type casKey struct {
	id      int
	mu      sync.Mutex
	wrote   []int64 // values of acknowledged successful swaps
	failed  int     // acknowledged failed compares
	unknown int     // swaps whose outcome is unknown
}

func newHistory() *history {
	h := &history{}
	for i := range crashWriters {
		h.writers = append(h.writers, &writer{id: i, home: i % 3, seq: 1})
	}
	for i := range crashCASKeys {
		h.cas = append(h.cas, &casKey{id: i})
	}
	return h
}

func (w *writer) prefix() string       { return fmt.Sprintf("crash/%02d/", w.id) }
func (w *writer) dataKey(n int) string { return w.prefix() + strconv.Itoa(n) }
func (w *writer) counterKey() string   { return w.prefix() + "counter" }
func (k *casKey) key() string          { return fmt.Sprintf("crash/cas/%d", k.id) }

// load is the writers and swappers of one cycle.
type load struct {
	clis    []*clientv3.Client
	h       *history
	stopCh  chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	start   time.Time
	elapsed time.Duration
	ackedAt int // acknowledged calls when the cycle began

	ackCount atomic.Int64 // acknowledged writer calls in this cycle

	mu   sync.Mutex
	errs map[string]int
}

// startLoad starts every writer and swapper, each on a fresh client of its
// home member, spread evenly over the members.
func startLoad(c *procCluster, h *history) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{h: h, stopCh: make(chan struct{}), cancel: cancel, start: time.Now(), errs: map[string]int{}}
	for _, m := range c.members {
		l.clis = append(l.clis, c.client(m))
	}
	for _, w := range h.writers {
		l.ackedAt += w.acked
		l.wg.Go(func() { l.write(ctx, w) })
	}
	for i := range crashCASWorkers {
		k := h.cas[i%len(h.cas)]
		l.wg.Go(func() { l.swap(ctx, k, i%len(l.clis)) })
	}
	return l
}

// stop lets every call in flight finish, then ends the load.
func (l *load) stop() {
	close(l.stopCh)
	l.wg.Wait()
	l.finish()
}

// abort cuts every call in flight off: use it once the members are dead.
func (l *load) abort() {
	close(l.stopCh)
	l.cancel()
	l.wg.Wait()
	l.finish()
}

func (l *load) finish() {
	l.elapsed = time.Since(l.start)
	l.cancel()
	for _, c := range l.clis {
		c.Close()
	}
}

func (l *load) stopped(ctx context.Context) bool {
	select {
	case <-l.stopCh:
		return true
	default:
		return ctx.Err() != nil
	}
}

// failed notes an error and moves the caller to the next member, after a
// short pause so that a dead cluster is not spun on.
func (l *load) failed(ctx context.Context, err error, ep *int) {
	l.mu.Lock()
	l.errs[errorKind(err)]++
	l.mu.Unlock()
	*ep = (*ep + 1) % len(l.clis)
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Millisecond):
	}
}

func (l *load) write(ctx context.Context, w *writer) {
	ep := w.home
	for !l.stopped(ctx) {
		key, val := w.dataKey(w.seq), strconv.Itoa(w.seq)
		if w.counterPhase {
			key = w.counterKey()
		}
		octx, cancel := context.WithTimeout(ctx, crashOpTimeout)
		resp, err := l.clis[ep].Put(octx, key, val)
		cancel()
		if err != nil {
			w.unsure = true
			w.errs++
			l.failed(ctx, err, &ep)
			continue
		}
		rev := resp.Header.Revision
		if rev <= w.lastRev {
			w.badRevs = append(w.badRevs, fmt.Sprintf("put %s=%s acknowledged at revision %d, after an earlier put at %d", key, val, rev, w.lastRev))
		}
		w.lastRev = rev
		w.acked++
		l.ackCount.Add(1)
		w.unsure = false
		if w.counterPhase {
			w.counterRev = rev
			w.seq++
		} else {
			w.dataRevs = append(w.dataRevs, rev)
		}
		w.counterPhase = !w.counterPhase
	}
}

func (l *load) swap(ctx context.Context, k *casKey, ep int) {
	for !l.stopped(ctx) {
		octx, cancel := context.WithTimeout(ctx, crashOpTimeout)
		cur, err := l.clis[ep].Get(octx, k.key())
		cancel()
		if err != nil {
			l.failed(ctx, err, &ep)
			continue
		}
		v, modRev := 0, int64(0)
		if len(cur.Kvs) == 1 {
			modRev = cur.Kvs[0].ModRevision
			if v, err = strconv.Atoi(string(cur.Kvs[0].Value)); err != nil {
				l.failed(ctx, fmt.Errorf("%s holds %q, not a number", k.key(), cur.Kvs[0].Value), &ep)
				continue
			}
		}
		octx, cancel = context.WithTimeout(ctx, crashOpTimeout)
		resp, err := l.clis[ep].Txn(octx).
			If(clientv3.Compare(clientv3.ModRevision(k.key()), "=", modRev)).
			Then(clientv3.OpPut(k.key(), strconv.Itoa(v+1))).
			Commit()
		cancel()
		k.mu.Lock()
		switch {
		case err != nil:
			k.unknown++
		case resp.Succeeded:
			k.wrote = append(k.wrote, int64(v+1))
		default:
			k.failed++
		}
		k.mu.Unlock()
		if err != nil {
			l.failed(ctx, err, &ep)
		}
	}
}

// errorKind shortens an error to its kind, for counting.
func errorKind(err error) string {
	s := err.Error()
	if i := strings.Index(s, "desc = "); i >= 0 {
		s = s[i+len("desc = "):]
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// expectedError reports whether err is one a client may see while members
// die, restart or elect a leader.
func expectedError(kind string) bool {
	for _, s := range []string{
		"context canceled",
		"context deadline exceeded",
		"connection refused",
		"connection reset",
		"error reading from server",
		"EOF",
		"transport is closing",
		"etcdserver: no leader",
		"etcdserver: not leader",
		"etcdserver: leader changed",
		"etcdserver: request timed out",
		"etcdserver: server stopped",
	} {
		if strings.Contains(kind, s) {
			return true
		}
	}
	return false
}

func (l *load) acked() int {
	n := 0
	for _, w := range l.h.writers {
		n += w.acked
	}
	return n - l.ackedAt
}

func (l *load) summary() string {
	errs := 0
	for _, n := range l.errs {
		errs += n
	}
	return fmt.Sprintf("%d writers made %d acknowledged puts in %v (%.0f/s), %d calls failed",
		len(l.h.writers), l.acked(), l.elapsed.Round(time.Millisecond), float64(l.acked())/l.elapsed.Seconds(), errs)
}

// checkErrors fails on an error no member failure explains, and logs the rest.
func (l *load) checkErrors(t *testing.T) {
	t.Helper()
	for _, kind := range slices.Sorted(maps.Keys(l.errs)) {
		if expectedError(kind) {
			t.Logf("  %5d × %s", l.errs[kind], kind)
		} else {
			t.Errorf("  %5d × unexpected error %s", l.errs[kind], kind)
		}
	}
}

// verify waits until every member has caught up, then checks each member's
// replica against the history and the members against each other.
func (h *history) verify(t *testing.T, c *procCluster) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), crashConverge)
	defer cancel()
	clis := make([]*clientv3.Client, len(c.members))
	for i, m := range c.members {
		clis[i] = c.client(m)
		defer clis[i].Close()
	}
	// A linearizable read on a member waits until its replica has applied
	// everything committed: once the cluster is idle, every member must
	// then report the same revision.
	var revs []int64
	for {
		revs = revs[:0]
		for i, m := range c.members {
			resp, err := clis[i].Get(ctx, "crash/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil {
				c.checkAlive(t)
				t.Fatalf("linearizable read on %s, %v into the check: %v", m.name, time.Since(start).Round(time.Millisecond), err)
			}
			revs = append(revs, resp.Header.Revision)
		}
		if slices.Min(revs) == slices.Max(revs) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("members never agreed on a revision: %v", revs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rev := revs[0]
	var maxAcked int64
	for _, w := range h.writers {
		maxAcked = max(maxAcked, w.lastRev)
	}
	if rev < maxAcked {
		t.Errorf("cluster revision %d is below the last acknowledged revision %d", rev, maxAcked)
	}
	for i, m := range c.members {
		resp, err := clis[i].Get(ctx, "crash/", clientv3.WithPrefix(), clientv3.WithRev(rev))
		if err != nil {
			t.Fatalf("read crash/ on %s at revision %d: %v", m.name, rev, err)
		}
		kvs := map[string]*mvccpb.KeyValue{}
		for _, kv := range resp.Kvs {
			kvs[string(kv.Key)] = kv
		}
		found, problems := h.check(kvs)
		if len(problems) > 0 {
			const show = 10
			t.Errorf("%s: %d problems at revision %d (%d acknowledged writes found), the first %d:\n  %s",
				m.name, len(problems), rev, found, min(show, len(problems)), strings.Join(problems[:min(show, len(problems))], "\n  "))
			continue
		}
		t.Logf("%s: %d keys at revision %d; all %d acknowledged writes present", m.name, len(kvs), rev, found)
	}
	hashes := map[uint32][]string{}
	for i, m := range c.members {
		resp, err := clis[i].HashKV(ctx, m.clientAddr, 0)
		if err != nil {
			t.Fatalf("HashKV on %s: %v", m.name, err)
		}
		if resp.HashRevision != rev {
			t.Fatalf("HashKV on %s at revision %d, want %d: a write arrived during the check", m.name, resp.HashRevision, rev)
		}
		hashes[resp.Hash] = append(hashes[resp.Hash], m.name)
	}
	if len(hashes) != 1 {
		t.Errorf("members disagree on their replica's hash at revision %d: %v", rev, hashes)
	}
	t.Logf("checked at revision %d in %v", rev, time.Since(start).Round(time.Millisecond))
}

// check compares one member's keys with the history. It returns how many
// acknowledged writes it found and what is wrong.
func (h *history) check(kvs map[string]*mvccpb.KeyValue) (found int, problems []string) {
	seen := map[string]bool{}
	errorf := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	for _, w := range h.writers {
		for _, msg := range w.badRevs {
			errorf("writer %d: %s", w.id, msg)
		}
		for n := 1; n <= len(w.dataRevs); n++ {
			key := w.dataKey(n)
			seen[key] = true
			kv, ok := kvs[key]
			switch {
			case !ok:
				errorf("acknowledged %s=%d (revision %d) is missing", key, n, w.dataRevs[n-1])
			case string(kv.Value) != strconv.Itoa(n) || kv.ModRevision != w.dataRevs[n-1]:
				errorf("%s = %q at mod revision %d, want %d at %d", key, kv.Value, kv.ModRevision, n, w.dataRevs[n-1])
			default:
				found++
			}
		}
		// The pending data key may be there if a call for it failed.
		if key := w.dataKey(w.seq); !w.counterPhase {
			seen[key] = true
			if kv, ok := kvs[key]; ok && (!w.unsure || string(kv.Value) != strconv.Itoa(w.seq)) {
				errorf("%s = %q was never written (pending, attempted: %v)", key, kv.Value, w.unsure)
			}
		}
		key := w.counterKey()
		seen[key] = true
		kv, ok := kvs[key]
		acked := w.seq - 1
		mayBe := w.counterPhase && w.unsure // the pending counter write
		switch {
		case acked == 0 && !ok:
		case ok && mayBe && string(kv.Value) == strconv.Itoa(w.seq):
		case !ok:
			errorf("acknowledged %s=%d (revision %d) is missing", key, acked, w.counterRev)
		case string(kv.Value) != strconv.Itoa(acked) || kv.ModRevision != w.counterRev:
			errorf("%s = %q at mod revision %d, want %d at %d (or %d: pending %v)", key, kv.Value, kv.ModRevision, acked, w.counterRev, w.seq, mayBe)
		default:
			found++
		}
	}
	for _, k := range h.cas {
		seen[k.key()] = true
		var v int64
		if kv, ok := kvs[k.key()]; ok {
			var err error
			if v, err = strconv.ParseInt(string(kv.Value), 10, 64); err != nil {
				errorf("%s = %q, want a number", k.key(), kv.Value)
			}
		}
		// Every successful swap adds one, so the value counts them: all the
		// acknowledged ones and some of the unknown ones.
		s, u := int64(len(k.wrote)), int64(k.unknown)
		wrote := slices.Sorted(slices.Values(k.wrote))
		switch {
		case v < s || v > s+u:
			errorf("%s = %d after %d acknowledged swaps and %d unknown ones", k.key(), v, s, u)
		case len(slices.Compact(slices.Clone(wrote))) != len(wrote):
			errorf("%s: two acknowledged swaps wrote the same value (a lost update): %v", k.key(), wrote)
		case len(wrote) > 0 && wrote[len(wrote)-1] > v:
			errorf("%s = %d, below the acknowledged swap to %d", k.key(), v, wrote[len(wrote)-1])
		default:
			found += len(wrote)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(kvs)) {
		if !seen[key] {
			errorf("%s = %q was never written", key, kvs[key].Value)
		}
	}
	return found, problems
}

func (h *history) logTotals(t *testing.T) {
	t.Helper()
	var acked, errs, keys int
	for _, w := range h.writers {
		acked += w.acked
		errs += w.errs
		keys += len(w.dataRevs)
	}
	var swaps, failed, unknown int
	for _, k := range h.cas {
		swaps += len(k.wrote)
		failed += k.failed
		unknown += k.unknown
	}
	t.Logf("in all: %d acknowledged puts (%d data keys, the rest counters), %d failed calls retried; %d acknowledged swaps, %d lost compares, %d unknown",
		acked, keys, errs, swaps, failed, unknown)
}
