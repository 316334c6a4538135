package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/skiff-sh/skiff/wasm/builtin"
	policy "github.com/skiff-sh/skiff/wasm/policies/scheduler"
	"github.com/skiff-sh/skiff/wasm/runtime"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

// The built-in policy is loaded once per process and kept across leadership terms: compiling
// the module takes about a second, instantiating it tens of milliseconds.
var (
	builtinOnce   sync.Once
	builtinPolicy Policy
	builtinErr    error
)

// BuiltinConfig is the wasm runtime configuration of the built-in default scheduler: the
// runtime's defaults with NoInterrupt. The module is compiled into the binary from this
// repository's source (wasm/policies/scheduler), loops only over the nodes it is given, and is
// tested natively and in wazero, so it is trusted like the host's own code; its deadline is
// still checked around each call. Interrupting guest loops costs ~40ns per iteration, three to
// four times the policy's own cost per node (wasm/RATIONALE.md). Uploaded modules never get
// NoInterrupt.
func BuiltinConfig() runtime.Config {
	cfg := runtime.DefaultConfig()
	cfg.NoInterrupt = true
	return cfg
}

// BuiltinPolicy returns the built-in default scheduler, loaded once per process: the embedded
// wasm module in wazero, or, in a binary built without `make wasm` (plain `go build` or
// `go test`), the same policy compiled natively, with a warning. cacheDir, if set, keeps the
// compiled module across restarts.
func BuiltinPolicy(ctx context.Context, logger *slog.Logger, cacheDir string) (Policy, error) {
	builtinOnce.Do(func() {
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		wasm, err := builtin.Scheduler()
		if errors.Is(err, builtin.ErrNotBuilt) {
			logger.Warn("scheduler: no built-in wasm module in this binary; running the default policy natively", "err", err)
			builtinPolicy = sdk.NewNativeScheduler(policy.Policy{})
			return
		}
		if err != nil {
			builtinErr = err
			return
		}
		cfg := BuiltinConfig()
		cfg.Logger = logger
		cfg.CacheDir = cacheDir
		h, err := runtime.New(context.WithoutCancel(ctx), cfg)
		if err != nil {
			builtinErr = fmt.Errorf("scheduler: wasm runtime: %w", err)
			return
		}
		m, err := h.Load(context.WithoutCancel(ctx), builtin.SchedulerName, wasm, runtime.ModuleOptions{})
		if err != nil {
			h.Close(context.WithoutCancel(ctx))
			builtinErr = fmt.Errorf("scheduler: load the built-in module: %w", err)
			return
		}
		builtinPolicy = m
	})
	return builtinPolicy, builtinErr
}
