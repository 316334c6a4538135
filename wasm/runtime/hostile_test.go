package runtime_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/runtime"
	"github.com/skiff-sh/skiff/wasm/runtime/testdata/leastalloc/policy"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

// Modes of testdata/hostile, chosen by the pod's priority.
const (
	modeOK         = 0
	modeLoop       = 1
	modeMemoryBomb = 2
	modePanic      = 3
	modeBadScore   = 4
	modeBadVerdict = 5
	modeFile       = 6
	modeDial       = 7
	modeNilDeref   = 8
	modeEnv        = 9
)

type hostileEnv struct {
	m        *runtime.Module
	path     string
	accepted *atomic.Int32
}

// loadHostile loads testdata/hostile with a path to write and a listener to dial, both of
// which the sandbox must keep it from.
func loadHostile(t *testing.T, cfg runtime.Config) hostileEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	path := filepath.Join(t.TempDir(), "escaped")
	config := `{"path":"` + path + `","addr":"` + ln.Addr().String() + `"}`
	m := load(t, newHost(t, cfg), "hostile", "hostile", runtime.ModuleOptions{Config: []byte(config)})
	return hostileEnv{m: m, path: path, accepted: accepted}
}

func hostileInput(mode int32) *abi.Input {
	in := genInput(rand.New(rand.NewPCG(7, uint64(mode))), 50)
	in.Pod.Priority = mode
	return in
}

// TestHostileModules: every attack fails its own call, with a typed error naming the module,
// within the deadline; the next call on the same module succeeds.
func TestHostileModules(t *testing.T) {
	env := loadHostile(t, testConfig())
	native := sdk.NewNativeScheduler(policy.LeastAllocated{})
	tests := []struct {
		name   string
		mode   int32
		want   error
		detail string
	}{
		{"infinite loop", modeLoop, runtime.ErrTimeout, "deadline"},
		{"panic", modePanic, runtime.ErrTrap, "hostile: boom"},
		{"nil dereference", modeNilDeref, runtime.ErrTrap, "nil pointer"},
		{"score out of range", modeBadScore, runtime.ErrBadOutput, "scored 250"},
		{"invalid verdict", modeBadVerdict, runtime.ErrBadOutput, "verdict 7"},
		{"reads and writes files", modeFile, runtime.ErrTrap, "read /etc/hostname"},
		{"dials the network", modeDial, runtime.ErrTrap, "hostile: dial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := env.m.Schedule(t.Context(), hostileInput(tt.mode), &abi.Result{})
			elapsed := time.Since(start)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Schedule = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), `wasm module "hostile"`) || !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("error %q should name the module and say %q", err, tt.detail)
			}
			if elapsed > time.Second {
				t.Errorf("the failed call took %v, want it bounded by the 100ms deadline", elapsed)
			}
			// The module keeps serving, with the same decisions as the native policy.
			in := hostileInput(modeOK)
			var wres, nres abi.Result
			if err := env.m.Schedule(t.Context(), in, &wres); err != nil {
				t.Fatalf("the next call failed: %v", err)
			}
			native.Schedule(t.Context(), in, &nres)
			if !slices.Equal(wres.Scores, nres.Scores) || !slices.Equal(wres.Verdicts, nres.Verdicts) {
				t.Errorf("after the failure, wasm %+v differs from native %+v", wres, nres)
			}
		})
	}
	if _, err := os.Stat(env.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the guest created %s on the host (stat: %v)", env.path, err)
	}
	if n := env.accepted.Load(); n != 0 {
		t.Errorf("the guest reached the host's listener %d times", n)
	}
	s := env.m.Stats()
	want := runtime.Stats{Calls: 14, Failures: 7, Timeouts: 1, Traps: 4, BadOutputs: 2}
	if s.Calls != want.Calls || s.Failures != want.Failures || s.Timeouts != want.Timeouts || s.Traps != want.Traps ||
		s.MemoryLimits != want.MemoryLimits || s.BadOutputs != want.BadOutputs || s.Quarantined || s.ConsecutiveFailures != 0 {
		t.Errorf("stats = %+v, want counts %+v, not quarantined", s, want)
	}
	if s.InstancesDiscarded != 5 {
		t.Errorf("%d instances discarded, want 5 (traps and timeouts; not bad output)", s.InstancesDiscarded)
	}
	if logs := env.m.Logs(); !strings.Contains(logs, "hostile: boom") || !strings.Contains(logs, "Bad file number") {
		t.Errorf("guest logs do not show the panic and the refused open:\n%s", logs)
	}
}

// TestMemoryBomb: a guest allocating without bound dies at the memory cap. Filling 64 MiB takes
// the guest about as long as the default 100ms deadline (every memory.grow copies the memory), so
// this runs under a 32 MiB cap and a 1s deadline to see the out-of-memory path itself; under the
// defaults the same guest fails with ErrMemoryLimit or ErrTimeout, whichever comes first.
func TestMemoryBomb(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 32 << 20
	cfg.CallTimeout = time.Second
	env := loadHostile(t, cfg)
	start := time.Now()
	err := env.m.Schedule(t.Context(), hostileInput(modeMemoryBomb), &abi.Result{})
	if !errors.Is(err, runtime.ErrMemoryLimit) || !strings.Contains(err.Error(), "32 MiB") {
		t.Fatalf("Schedule = %v, want ErrMemoryLimit under the 32 MiB cap", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
	if err := env.m.Schedule(t.Context(), hostileInput(modeOK), &abi.Result{}); err != nil {
		t.Fatalf("the next call failed: %v", err)
	}
	if s := env.m.Stats(); s.MemoryLimits != 1 || s.InstancesDiscarded != 1 {
		t.Errorf("stats = %+v, want 1 memory-limit failure and 1 discarded instance", s)
	}
	if !strings.Contains(env.m.Logs(), "out of memory") {
		t.Errorf("logs do not show the guest's out-of-memory report:\n%s", env.m.Logs())
	}
	defaults := loadHostile(t, testConfig())
	if err := defaults.m.Schedule(t.Context(), hostileInput(modeMemoryBomb), &abi.Result{}); !errors.Is(err, runtime.ErrMemoryLimit) && !errors.Is(err, runtime.ErrTimeout) {
		t.Errorf("under the defaults: %v, want ErrMemoryLimit or ErrTimeout", err)
	}
}

// TestGuestSeesNoHost: no environment, arguments, working directory or filesystem.
func TestGuestSeesNoHost(t *testing.T) {
	env := loadHostile(t, testConfig())
	var res abi.Result
	if err := env.m.Schedule(t.Context(), hostileInput(modeEnv), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Scores) == 0 || slices.ContainsFunc(res.Scores, func(s int32) bool { return s != 0 }) {
		t.Errorf("the guest saw the host: scores %v, want all 0 (env+args, cwd=10, readdir=20)", res.Scores)
	}
}

func TestQuarantine(t *testing.T) {
	cfg := testConfig()
	cfg.QuarantineAfter = 3
	env := loadHostile(t, cfg)
	for i := range 3 {
		if env.m.Quarantined() {
			t.Fatalf("quarantined after %d failures, want 3", i)
		}
		if err := env.m.Schedule(t.Context(), hostileInput(modePanic), &abi.Result{}); !errors.Is(err, runtime.ErrTrap) {
			t.Fatalf("call %d = %v, want ErrTrap", i, err)
		}
	}
	if !env.m.Quarantined() {
		t.Fatal("not quarantined after 3 failures in a row")
	}
	err := env.m.Schedule(t.Context(), hostileInput(modeOK), &abi.Result{})
	if !errors.Is(err, runtime.ErrQuarantined) || !strings.Contains(err.Error(), "hostile") {
		t.Fatalf("call while quarantined = %v, want ErrQuarantined naming the module", err)
	}
	if s := env.m.Stats(); s.Rejected != 1 || !s.Quarantined {
		t.Errorf("stats = %+v, want 1 rejected, quarantined", s)
	}
	env.m.Release()
	if err := env.m.Schedule(t.Context(), hostileInput(modeOK), &abi.Result{}); err != nil {
		t.Fatalf("after Release: %v", err)
	}
}

// TestQuarantineExpires: a quarantined module gets a trial call once its period is over; a
// failing trial starts another period, a succeeding one lifts the quarantine.
func TestQuarantineExpires(t *testing.T) {
	cfg := testConfig()
	cfg.QuarantineAfter = 2
	cfg.QuarantineFor = 150 * time.Millisecond
	env := loadHostile(t, cfg)
	for range 2 {
		env.m.Schedule(t.Context(), hostileInput(modePanic), &abi.Result{})
	}
	if err := env.m.Schedule(t.Context(), hostileInput(modeOK), &abi.Result{}); !errors.Is(err, runtime.ErrQuarantined) {
		t.Fatalf("call during the quarantine = %v, want ErrQuarantined", err)
	}
	time.Sleep(cfg.QuarantineFor)
	if err := env.m.Schedule(t.Context(), hostileInput(modePanic), &abi.Result{}); !errors.Is(err, runtime.ErrTrap) {
		t.Fatalf("trial call after the period = %v, want it run (and trap)", err)
	}
	if err := env.m.Schedule(t.Context(), hostileInput(modeOK), &abi.Result{}); !errors.Is(err, runtime.ErrQuarantined) {
		t.Fatalf("call after a failed trial = %v, want ErrQuarantined for another period", err)
	}
	time.Sleep(cfg.QuarantineFor)
	if err := env.m.Schedule(t.Context(), hostileInput(modeOK), &abi.Result{}); err != nil {
		t.Fatalf("trial call = %v, want success", err)
	}
	if env.m.Quarantined() {
		t.Fatal("still quarantined after a successful trial")
	}
}

// TestHostKeepsServing: while a module's calls loop into their deadline, other calls on the
// same module and on another module go through.
func TestHostKeepsServing(t *testing.T) {
	cfg := testConfig()
	cfg.QuarantineAfter = 100
	h := newHost(t, cfg)
	hostile := load(t, h, "hostile", "hostile", runtime.ModuleOptions{PoolSize: 3})
	good := load(t, h, "leastalloc", "leastalloc", runtime.ModuleOptions{})
	if err := hostile.Warm(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var loops atomic.Int32
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			err := hostile.Schedule(context.Background(), hostileInput(modeLoop), &abi.Result{})
			if !errors.Is(err, runtime.ErrTimeout) {
				t.Errorf("looping call = %v, want ErrTimeout", err)
				return
			}
			loops.Add(1)
		}
	})
	r := rand.New(rand.NewPCG(3, 3))
	var res abi.Result
	deadline := time.Now().Add(time.Second)
	calls := 0
	for time.Now().Before(deadline) {
		if err := good.Schedule(t.Context(), genInput(r, 100), &res); err != nil {
			t.Fatalf("other module failed while one looped: %v", err)
		}
		if err := hostile.Schedule(t.Context(), hostileInput(modeOK), &res); err != nil {
			t.Fatalf("the same module failed a good call while another looped: %v", err)
		}
		calls++
	}
	stop()
	wg.Wait()
	if loops.Load() < 3 || calls < 20 {
		t.Errorf("%d looping calls timed out and %d good call pairs ran in 1s: want ≥3 and ≥20", loops.Load(), calls)
	}
	t.Logf("%d looping calls timed out while %d good call pairs succeeded", loops.Load(), calls)
}

func TestCallerCancellationIsNotAFailure(t *testing.T) {
	env := loadHostile(t, testConfig())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	err := env.m.Schedule(ctx, hostileInput(modeLoop), &abi.Result{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Schedule = %v, want the caller's context.DeadlineExceeded", err)
	}
	if s := env.m.Stats(); s.Failures != 0 || s.ConsecutiveFailures != 0 {
		t.Errorf("stats = %+v: the caller's deadline was counted against the module", s)
	}
}

func TestLogsAreCapped(t *testing.T) {
	cfg := testConfig()
	cfg.LogLimit = 512
	cfg.QuarantineAfter = 100
	env := loadHostile(t, cfg)
	for range 6 {
		env.m.Schedule(t.Context(), hostileInput(modePanic), &abi.Result{})
	}
	if logs := env.m.Logs(); len(logs) > 512 || !strings.Contains(logs, "hostile: boom") {
		t.Errorf("logs are %d bytes (cap 512) or miss the last panic:\n%s", len(logs), logs)
	}
}
