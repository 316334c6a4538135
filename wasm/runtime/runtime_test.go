package runtime_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/runtime"
	"github.com/skiff-sh/skiff/wasm/runtime/testdata/leastalloc/policy"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

// scheduler is what the built-in scheduler will call: a module or the same policy natively.
type scheduler interface {
	Schedule(ctx context.Context, in *abi.Input, out *abi.Result) error
}

var (
	_ scheduler = (*runtime.Module)(nil)
	_ scheduler = (*sdk.NativeScheduler)(nil)
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*runtime.Config)
		ok     bool
	}{
		{"defaults", func(*runtime.Config) {}, true},
		{"memory not page aligned", func(c *runtime.Config) { c.MemoryLimit = 64<<20 + 1 }, false},
		{"memory too small", func(c *runtime.Config) { c.MemoryLimit = 1 << 20 }, false},
		{"zero timeout", func(c *runtime.Config) { c.CallTimeout = 0 }, false},
		{"negative pool", func(c *runtime.Config) { c.PoolSize = -1 }, false},
		{"arena above memory", func(c *runtime.Config) { c.ArenaSize = 64 << 20 }, false},
		{"no quarantine threshold", func(c *runtime.Config) { c.QuarantineAfter = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := runtime.DefaultConfig()
			tt.modify(&cfg)
			if err := cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestLoadDetectsHooksAndInfo(t *testing.T) {
	h := newHost(t, testConfig())
	sched := load(t, h, "leastalloc", "leastalloc", runtime.ModuleOptions{})
	if got, want := sched.Hooks(), (runtime.Hooks{Filter: true, Score: true}); got != want {
		t.Errorf("leastalloc hooks = %+v, want %+v", got, want)
	}
	if sched.Info().Name != "leastalloc" {
		t.Errorf("leastalloc info = %+v, want name leastalloc", sched.Info())
	}
	ctrl := load(t, h, "controller", "controller", runtime.ModuleOptions{})
	if got, want := ctrl.Hooks(), (runtime.Hooks{Reconcile: true}); got != want {
		t.Errorf("controller hooks = %+v, want %+v (SDK exports answering not-implemented are absent)", got, want)
	}
	err := ctrl.Schedule(t.Context(), genInput(rand.New(rand.NewPCG(1, 1)), 3), &abi.Result{})
	if !errors.Is(err, runtime.ErrMissingExport) {
		t.Errorf("Schedule on a controller = %v, want ErrMissingExport", err)
	}
}

// TestPolicySemantics pins down the example policy on a hand-made input, natively.
func TestPolicySemantics(t *testing.T) {
	ready := abi.NodeReady
	in := &abi.Input{
		Pod: abi.PodInput{CPUMilli: 500, MemoryBytes: 1 << 30, NodeSelector: []abi.Label{{Key: sZone, Value: sZoneA}}},
		Nodes: []abi.NodeInput{
			{AllocCPUMilli: 4000, AllocMemory: 8 << 30, AllocPods: 10, Flags: ready, Labels: []abi.Label{{Key: sZone, Value: sZoneA}}},
			{AllocCPUMilli: 4000, AllocMemory: 8 << 30, ReqCPUMilli: 3000, ReqMemory: 6 << 30, AllocPods: 10, Flags: ready, Labels: []abi.Label{{Key: sZone, Value: sZoneA}}},
			{AllocCPUMilli: 400, AllocMemory: 512 << 20, AllocPods: 10, Pods: 10, Flags: ready, Labels: []abi.Label{{Key: sZone, Value: sZoneA}}},
			{AllocCPUMilli: 4000, AllocMemory: 8 << 30, AllocPods: 10, Flags: ready, Labels: []abi.Label{{Key: sZone, Value: sZoneB}}},
			{AllocCPUMilli: 4000, AllocMemory: 8 << 30, AllocPods: 10, Flags: ready, Labels: []abi.Label{{Key: sZone, Value: sZoneA}},
				Taints: []abi.Taint{{Key: sDedicated, Value: sGPU, Effect: abi.EffectNoSchedule}}},
			{AllocCPUMilli: 4000, AllocMemory: 8 << 30, AllocPods: 10, Flags: abi.NodeUnschedulable, Labels: []abi.Label{{Key: sZone, Value: sZoneA}}},
		},
	}
	var res abi.Result
	if err := sdk.NewNativeScheduler(policy.LeastAllocated{}).Schedule(t.Context(), in, &res); err != nil {
		t.Fatal(err)
	}
	want := []abi.NodeVerdict{
		{Verdict: abi.Feasible},
		{Verdict: abi.Feasible},
		{Verdict: abi.Unschedulable, Reasons: abi.ReasonInsufficientCPU | abi.ReasonInsufficientMemory | abi.ReasonTooManyPods},
		{Verdict: abi.Unresolvable, Reasons: abi.ReasonNodeSelector},
		{Verdict: abi.Unresolvable, Reasons: abi.ReasonUntoleratedTaint},
		{Verdict: abi.Unresolvable, Reasons: abi.ReasonUnschedulable | abi.ReasonNotReady},
	}
	if !slices.Equal(res.Verdicts, want) {
		t.Errorf("verdicts = %+v, want %+v", res.Verdicts, want)
	}
	// Node 0: (3500/4000 + 7/8) / 2 = 87; node 1: (500/4000 + 1/8) / 2 = 12.
	if !slices.Equal(res.Feasible, []uint32{0, 1}) || !slices.Equal(res.Scores, []int32{87, 12}) {
		t.Errorf("feasible %v scores %v, want [0 1] [87 12]", res.Feasible, res.Scores)
	}
}

// TestNativeAndWasmAgree runs the same policy source natively and in wazero over random inputs.
func TestNativeAndWasmAgree(t *testing.T) {
	h := newHost(t, testConfig())
	m := load(t, h, "leastalloc", "leastalloc", runtime.ModuleOptions{})
	native := sdk.NewNativeScheduler(policy.LeastAllocated{})
	r := rand.New(rand.NewPCG(4, 2))
	var reasons abi.Reasons
	var feasible, rejected int
	var wres, nres abi.Result
	for i := range 300 {
		n := r.IntN(300)
		if i%50 == 0 {
			n = 3000 // past the initial arena: the arena grows
		}
		in := genInput(r, n)
		if err := m.Schedule(t.Context(), in, &wres); err != nil {
			t.Fatalf("wasm, input %d (%d nodes): %v", i, n, err)
		}
		if err := native.Schedule(t.Context(), in, &nres); err != nil {
			t.Fatalf("native, input %d: %v", i, err)
		}
		if !slices.Equal(wres.Verdicts, nres.Verdicts) || !slices.Equal(wres.Feasible, nres.Feasible) || !slices.Equal(wres.Scores, nres.Scores) {
			t.Fatalf("input %d (%d nodes): wasm and native differ:\nwasm   %+v\nnative %+v", i, n, wres, nres)
		}
		for _, v := range wres.Verdicts {
			reasons |= v.Reasons
			if v.Verdict == abi.Feasible {
				feasible++
			} else {
				rejected++
			}
		}
	}
	if all := abi.ReasonInsufficientCPU | abi.ReasonInsufficientMemory | abi.ReasonTooManyPods | abi.ReasonNodeName |
		abi.ReasonNodeSelector | abi.ReasonUntoleratedTaint | abi.ReasonUnschedulable | abi.ReasonNotReady; reasons != all {
		t.Errorf("the random inputs exercised reasons %b, want all of %b", reasons, all)
	}
	if feasible == 0 || rejected == 0 {
		t.Errorf("feasible %d, rejected %d: want both", feasible, rejected)
	}
	if s := m.Stats(); s.Failures != 0 || s.Calls != 300 {
		t.Errorf("stats = %+v, want 300 calls and no failures", s)
	}
}

func TestNativeScheduleDoesNotAllocate(t *testing.T) {
	native := sdk.NewNativeScheduler(policy.LeastAllocated{})
	in := genInput(rand.New(rand.NewPCG(1, 2)), 500)
	var res abi.Result
	ctx := context.Background()
	native.Schedule(ctx, in, &res)
	if allocs := testing.AllocsPerRun(50, func() { native.Schedule(ctx, in, &res) }); allocs != 0 {
		t.Errorf("native Schedule allocates %.1f times per call, want 0", allocs)
	}
}

func TestConcurrentCallsUseThePool(t *testing.T) {
	h := newHost(t, testConfig())
	m := load(t, h, "leastalloc", "leastalloc", runtime.ModuleOptions{PoolSize: 4})
	native := sdk.NewNativeScheduler(policy.LeastAllocated{})
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			var wres, nres abi.Result
			for range 40 {
				in := genInput(r, r.IntN(200))
				if err := m.Schedule(t.Context(), in, &wres); err != nil {
					errs <- err
					return
				}
				native.Schedule(t.Context(), in, &nres)
				if !slices.Equal(wres.Scores, nres.Scores) || !slices.Equal(wres.Verdicts, nres.Verdicts) {
					errs <- errors.New("wasm and native differ under concurrency")
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if s := m.Stats(); s.InstancesCreated > 4 || s.Instances > 4 || s.Calls != 320 {
		t.Errorf("stats = %+v, want at most the pool's 4 instances, 320 calls", s)
	}
	if err := m.Warm(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Instances != 4 || s.InstancesCreated != 4 {
		t.Errorf("after Warm: %d live, %d created, want the pool's 4", s.Instances, s.InstancesCreated)
	}
}

// TestCachedLoad measures loading a module whose compiled code is in the on-disk cache.
func TestCachedLoad(t *testing.T) {
	cfg := testConfig()
	cfg.CacheDir = t.TempDir()
	measure := func() time.Duration {
		h, err := runtime.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		start := time.Now()
		m, err := h.Load(t.Context(), "leastalloc", guests["leastalloc"], runtime.ModuleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		if err := m.Schedule(t.Context(), genInput(rand.New(rand.NewPCG(1, 1)), 10), &abi.Result{}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cold := measure()
	warm := min(measure(), measure(), measure())
	t.Logf("load: %v compiling, %v from the compilation cache (target ≤ 50ms)", cold, warm)
	if warm > cold/4 {
		t.Errorf("cached load took %v (cold %v): the cache is not used", warm, cold)
	}
}

func TestLoadRefusals(t *testing.T) {
	tests := []struct {
		name, guest string
		config      string
		want        error
		detail      string
	}{
		{"wrong ABI version", "badversion", "", runtime.ErrABIVersion, "version 2"},
		{"missing exports", "noexports", "", runtime.ErrMissingExport, "skiff_abi_version"},
		{"foreign import", "foreignimport", "", runtime.ErrForbiddenImport, "env.host_secret"},
		{"not wasm", "", "", runtime.ErrCompile, ""},
		{"dry run loops", "hostile", `{"always":1}`, runtime.ErrTimeout, "skiff_filter"},
		{"dry run bad score", "hostile", `{"always":4}`, runtime.ErrBadOutput, "250"},
		{"dry run panics", "hostile", `{"always":3}`, runtime.ErrTrap, "hostile: boom"},
		{"bad configuration", "hostile", `{"always":"x"}`, runtime.ErrConfig, "skiff_configure"},
	}
	h := newHost(t, testConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := guests[tt.guest]
			if tt.guest == "" {
				wasm = []byte("\x00asm\x01\x00\x00\x00garbage")
			}
			var opts runtime.ModuleOptions
			if tt.config != "" {
				opts.Config = []byte(tt.config)
			}
			start := time.Now()
			m, err := h.Load(t.Context(), "mod-"+tt.guest, wasm, opts)
			if err == nil {
				m.Close(context.Background())
				t.Fatal("Load succeeded, want a refusal")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load = %v, want %v", err, tt.want)
			}
			var e *runtime.Error
			if !errors.As(err, &e) || e.Module != "mod-"+tt.guest || !strings.Contains(err.Error(), `"mod-`+tt.guest+`"`) {
				t.Errorf("error %q does not name the module", err)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("error %q does not say %q", err, tt.detail)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refusal took %v", d)
			}
		})
	}
}
