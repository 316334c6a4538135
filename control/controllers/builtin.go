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

// BuiltinPolicies returns the replicaset, deployment and endpoints controllers compiled into
// the binary, in wazero with the runtime's defaults (deadline and interruption on: reconciles
// are not the hot path), loaded once per process. A module missing from the binary (built
// without `make wasm`: plain `go build` or `go test`, or a `make wasm` that predates the module)
// runs natively, with a warning. cacheDir, if set, keeps the compiled modules across restarts.
func BuiltinPolicies(ctx context.Context, logger *slog.Logger, cacheDir string) (map[string]Reconciler, error) {
	builtinOnce.Do(func() {
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		modules := map[string][]byte{}
		var missing []string
		var errs []error
		for _, m := range []struct {
			name string
			get  func() ([]byte, error)
		}{{ReplicaSetModule, builtin.ReplicaSet}, {DeploymentModule, builtin.Deployment}, {EndpointsModule, builtin.Endpoints}, {NodeLifecycleModule, builtin.NodeLifecycle}} {
			b, err := m.get()
			switch {
			case errors.Is(err, builtin.ErrNotBuilt):
				missing = append(missing, m.name)
			case err != nil:
				errs = append(errs, err)
			default:
				modules[m.name] = b
			}
		}
		if err := errors.Join(errs...); err != nil {
			builtinErr = err
			return
		}
		native := Native()
		policies := map[string]Reconciler{}
		if len(missing) > 0 {
			logger.Warn("controllers: built-in wasm modules missing from this binary; running those policies natively", "modules", missing)
			for _, name := range missing {
				policies[name] = native[name]
			}
		}
		if len(modules) > 0 {
			cfg := runtime.DefaultConfig()
			cfg.Logger = logger
			cfg.CacheDir = cacheDir
			h, err := runtime.New(context.WithoutCancel(ctx), cfg)
			if err != nil {
				builtinErr = fmt.Errorf("controllers: wasm runtime: %w", err)
				return
			}
			loaded, _, err := Load(context.WithoutCancel(ctx), h, modules)
			if err != nil {
				h.Close(context.WithoutCancel(ctx))
				builtinErr = err
				return
			}
			for name, p := range loaded {
				policies[name] = p
			}
		}
		builtinPolicies = policies
	})
	return builtinPolicies, builtinErr
}
