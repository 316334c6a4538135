package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/skiff-sh/skiff/wasm/builtin"
	"github.com/skiff-sh/skiff/wasm/runtime"
)

// The built-in policies are loaded once per process and kept across leadership terms:
// compiling a module takes about a second.
var (
	builtinOnce     sync.Once
	builtinPolicies map[string]Reconciler
	builtinErr      error
)

// BuiltinPolicies returns the replicaset and deployment controllers compiled into the binary,
// in wazero with the runtime's defaults (deadline and interruption on: reconciles are not the
// hot path), loaded once per process. A binary built without `make wasm` (plain `go build` or
// `go test`) runs the same policies natively, with a warning. cacheDir, if set, keeps the
// compiled modules across restarts.
func BuiltinPolicies(ctx context.Context, logger *slog.Logger, cacheDir string) (map[string]Reconciler, error) {
	builtinOnce.Do(func() {
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		rs, err1 := builtin.ReplicaSet()
		dep, err2 := builtin.Deployment()
		if errors.Is(err1, builtin.ErrNotBuilt) || errors.Is(err2, builtin.ErrNotBuilt) {
			logger.Warn("controllers: no built-in wasm modules in this binary; running the policies natively", "err", errors.Join(err1, err2))
			builtinPolicies = Native()
			return
		}
		if err := errors.Join(err1, err2); err != nil {
			builtinErr = err
			return
		}
		cfg := runtime.DefaultConfig()
		cfg.Logger = logger
		cfg.CacheDir = cacheDir
		h, err := runtime.New(context.WithoutCancel(ctx), cfg)
		if err != nil {
			builtinErr = fmt.Errorf("controllers: wasm runtime: %w", err)
			return
		}
		builtinPolicies, _, builtinErr = Load(context.WithoutCancel(ctx), h, map[string][]byte{ReplicaSetModule: rs, DeploymentModule: dep})
		if builtinErr != nil {
			h.Close(context.WithoutCancel(ctx))
		}
	})
	return builtinPolicies, builtinErr
}
