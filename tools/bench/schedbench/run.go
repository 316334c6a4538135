package schedbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/control/scheduler"
	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/builtin"
	policy "github.com/skiff-sh/skiff/wasm/policies/scheduler"
	wasmrt "github.com/skiff-sh/skiff/wasm/runtime"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

const (
	namespace = "bench"
	// createWorkers create nodes and pods concurrently (the store commits them in batches).
	createWorkers = 64
	ownerGroup    = 100
)

// result is one size and policy.
type result struct {
	pods      int
	elapsed   time.Duration
	p50, p99  time.Duration
	decisions float64 // decision-only calls per second
	window    int
}

func (r result) rate() float64 { return float64(r.pods) / r.elapsed.Seconds() }

// Run runs the benchmark and prints its report to out, ending with the final line.
func Run(ctx context.Context, o Options, out io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Workers == 0 {
		o.Workers = goruntime.GOMAXPROCS(0)
	}
	mod := o.Module
	if mod == nil {
		var err error
		if mod, err = builtin.Scheduler(); err != nil {
			return fmt.Errorf("schedbench: %w", err)
		}
	}
	cfg := scheduler.BuiltinConfig()
	mode := "built-in configuration: NoInterrupt"
	if o.Interrupt {
		cfg = wasmrt.DefaultConfig()
		mode = "interruptible, as uploaded modules"
	}
	cfg.PoolSize = o.Workers
	h, err := wasmrt.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("schedbench: %w", err)
	}
	defer h.Close(context.WithoutCancel(ctx))
	loadStart := time.Now()
	m, err := h.Load(ctx, builtin.SchedulerName, mod, wasmrt.ModuleOptions{})
	if err != nil {
		return fmt.Errorf("schedbench: %w", err)
	}
	loaded := time.Since(loadStart)
	if err := m.Warm(ctx); err != nil {
		return fmt.Errorf("schedbench: %w", err)
	}
	store := "one raftstore member on disk, fsync on"
	if o.Store == "memory" {
		store = "one raftstore member, in-memory log (no disk)"
	}
	fmt.Fprintf(out, "scheduler bench: %d pods per size and policy; store: %s; %d workers; GOMAXPROCS=%d\n",
		o.Pods, store, o.Workers, goruntime.GOMAXPROCS(0))
	fmt.Fprintf(out, "wasm module: %d bytes, loaded in %v (%s)\n", len(mod), loaded.Round(time.Millisecond), mode)
	sides := []struct {
		name string
		p    scheduler.Policy
	}{{"wasm", m}, {"native", sdk.NewNativeScheduler(policy.Policy{})}}
	var last map[string]result
	for _, n := range o.Nodes {
		last = map[string]result{}
		for _, side := range sides {
			log.Info("scheduling", "nodes", n, "policy", side.name)
			r, err := runOne(ctx, o, log, n, side.p)
			if err != nil {
				return fmt.Errorf("schedbench: %d nodes, %s: %w", n, side.name, err)
			}
			r.decisions, r.window, err = decisionRate(ctx, side.p, n, o.Workers, o.DecisionTime)
			if err != nil {
				return fmt.Errorf("schedbench: decision-only, %d nodes, %s: %w", n, side.name, err)
			}
			last[side.name] = r
			fmt.Fprintf(out, "nodes=%-6d %-6s %d pods bound in %v: %.0f pods/s; attempt p50=%s p99=%s; decision-only %.0f/s over %d-node windows\n",
				n, side.name, r.pods, r.elapsed.Round(time.Millisecond), r.rate(), ms(r.p50), ms(r.p99), r.decisions, r.window)
		}
	}
	cold, cached, err := loadTimes(ctx, cfg, mod, o.TempDir, loadRuns)
	if err != nil {
		return fmt.Errorf("schedbench: %w", err)
	}
	fmt.Fprintln(out, loadLine(cold, cached))
	w, nat := last["wasm"], last["native"]
	fmt.Fprintf(out, "scheduler: wasm=%.0f pods/s native=%.0f pods/s ratio=%.2f p99=%sms at %d nodes\n",
		w.rate(), nat.rate(), w.rate()/nat.rate(), msNum(w.p99), o.Nodes[len(o.Nodes)-1])
	return nil
}

func ms(d time.Duration) string    { return msNum(d) + "ms" }
func msNum(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// openStore starts a one-member store and waits until it leads.
func openStore(ctx context.Context, kind, dir string) (*raftstore.Store, error) {
	c := raftstore.DefaultConfig()
	c.Name = "bench"
	addr, trans := raft.NewInmemTransport("")
	c.Transport = trans
	c.Bootstrap = []raft.Server{{ID: "bench", Address: addr, Suffrage: raft.Voter}}
	c.ClientURL = "inmem://bench"
	c.Logger = slog.New(slog.DiscardHandler)
	if kind == "memory" {
		logs := raft.NewInmemStore()
		c.LogStore, c.StableStore, c.SnapshotStore = logs, logs, raft.NewInmemSnapshotStore()
	} else {
		c.Dir = dir
	}
	s, err := raftstore.Open(ctx, c)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for !s.IsLeader() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Close()
			return nil, errors.Join(errors.New("store did not become leader"), ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s, nil
}

// parallel runs f(i) for i in [0, n) on createWorkers goroutines and returns the first error.
func parallel(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range createWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func benchNode(i int) *corev1.Node {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("32Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	name := fmt.Sprintf("node-%05d", i)
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3)}},
		Status: corev1.NodeStatus{Capacity: alloc, Allocatable: alloc,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func benchPod(i int) *corev1.Pod {
	g := i / ownerGroup
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%06d", i),
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("rs-%d", g),
			UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", g)), Controller: new(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pause", Image: "registry.k8s.io/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("500Mi")}}}}}}
}

// runOne schedules o.Pods pods on n nodes with p in a fresh store.
func runOne(ctx context.Context, o Options, log *slog.Logger, n int, p scheduler.Policy) (result, error) {
	dir, err := os.MkdirTemp(o.TempDir, "schedbench-*")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	kv, err := openStore(ctx, o.Store, dir)
	if err != nil {
		return result{}, err
	}
	defer kv.Close()
	reg := registry.NewRegistry(kv, resources.Default(kv))
	if _, err := reg.Namespaces().Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, registry.CreateOptions{}); err != nil {
		return result{}, err
	}
	nodes, pods := reg.Store(corev1.SchemeGroupVersion.WithResource("nodes")), reg.Store(corev1.SchemeGroupVersion.WithResource("pods"))
	start := time.Now()
	if err := parallel(ctx, n, func(ctx context.Context, i int) error {
		_, err := nodes.Create(ctx, "", benchNode(i), registry.CreateOptions{})
		return err
	}); err != nil {
		return result{}, fmt.Errorf("create nodes: %w", err)
	}
	if err := parallel(ctx, o.Pods, func(ctx context.Context, i int) error {
		_, err := pods.Create(ctx, namespace, benchPod(i), registry.CreateOptions{})
		return err
	}); err != nil {
		return result{}, fmt.Errorf("create pods: %w", err)
	}
	log.Info("cluster created", "nodes", n, "pods", o.Pods, "took", time.Since(start).Round(time.Millisecond))

	var (
		mu       sync.Mutex
		lat      []time.Duration
		t0, tEnd time.Time
		bound    atomic.Int64
		failures atomic.Int64
		done     = make(chan struct{})
	)
	s, err := scheduler.New(reg, scheduler.Config{
		Policy: p, Workers: o.Workers, Binders: o.Binders, NoScheduledEvents: !o.ScheduledEvents, Logger: log,
		Ready: func() { mu.Lock(); t0 = time.Now(); mu.Unlock() },
		Observe: func(a scheduler.Attempt) {
			switch a.Result {
			case "scheduled":
				mu.Lock()
				lat = append(lat, a.Latency)
				tEnd = time.Now()
				mu.Unlock()
				if bound.Add(1) == int64(o.Pods) {
					close(done)
				}
			case "unschedulable", "error":
				if failures.Add(1) <= 3 {
					log.Warn("attempt failed", "pod", a.Pod, "result", a.Result, "err", a.Err)
				}
			}
		},
	})
	if err != nil {
		return result{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- s.Run(sctx) }()
	timer := time.NewTimer(o.Timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		err = fmt.Errorf("%d of %d pods bound after %v", bound.Load(), o.Pods, o.Timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	cancel()
	if rerr := <-stopped; err == nil {
		err = rerr
	}
	if err != nil {
		return result{}, err
	}
	if f := failures.Load(); f > 0 {
		log.Info("failed attempts", "count", f)
	}
	slices.Sort(lat)
	return result{pods: o.Pods, elapsed: tEnd.Sub(t0), p50: pct(lat, 0.50), p99: pct(lat, 0.99)}, nil
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// decisionRate is how many decisions per second workers make calling p over the window of nodes
// one decision sees in an n-node cluster, encoding included.
func decisionRate(ctx context.Context, p scheduler.Policy, n, workers int, d time.Duration) (float64, int, error) {
	k := scheduler.NumFeasibleNodesToFind(n, 0)
	r := rand.New(rand.NewPCG(1, uint64(n)))
	in := &abi.Input{Pod: abi.PodInput{CPUMilli: 100, MemoryBytes: 500 << 20, Owner: 1, Images: []uint32{2}}}
	in.Nodes = make([]abi.NodeInput, k)
	for i := range in.Nodes {
		in.Nodes[i] = abi.NodeInput{AllocCPUMilli: 4000, AllocMemory: 32 << 30, AllocPods: 110,
			ReqCPUMilli: r.Int64N(2000), ReqMemory: r.Int64N(16 << 30), Pods: uint32(r.IntN(20)), Name: uint32(3 + i),
			Flags: abi.NodeReady, Labels: []abi.Label{{Key: 3 + uint32(k), Value: 3 + uint32(i)}, {Key: 4 + uint32(k), Value: 5 + uint32(k+i%3)}},
			Matching: uint32(r.IntN(3))}
	}
	var calls atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var res abi.Result
			for time.Now().Before(stop) && ctx.Err() == nil {
				if err := p.Schedule(ctx, in, &res); err != nil {
					once.Do(func() { first = err })
					return
				}
				if len(res.Feasible) != k {
					once.Do(func() { first = fmt.Errorf("%d of %d nodes feasible", len(res.Feasible), k) })
					return
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(calls.Load()) / time.Since(start).Seconds(), k, first
}
