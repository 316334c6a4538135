// Package builtintest gives tests the built-in modules whether or not `make wasm` has run: the
// embedded module when there is one, else a build of its source (wasm/build.Cached, cached by a
// hash of the sources under the temporary directory).
package builtintest

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/wasm/build"
	"github.com/skiff-sh/skiff/wasm/builtin"
)

// wasmDir is this repository's wasm/ directory, found from this file's path.
func wasmDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// SchedulerSource builds the default scheduler policy from source.
func SchedulerSource(ctx context.Context) ([]byte, error) {
	w := wasmDir()
	return build.Cached(ctx, filepath.Join(w, "policies", "scheduler", "module"),
		filepath.Join(w, "policies", "scheduler"), filepath.Join(w, "sdk"), filepath.Join(w, "abi"))
}

// Scheduler returns the default scheduler module, built from source when the embedded one is the
// placeholder. It fails the test if neither works.
func Scheduler(t testing.TB) []byte {
	t.Helper()
	b, err := builtin.Scheduler()
	if err == nil {
		return b
	}
	if !errors.Is(err, builtin.ErrNotBuilt) {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err = SchedulerSource(ctx)
	if err != nil {
		t.Fatalf("build the default scheduler module: %v", err)
	}
	return b
}

// EndpointsSource builds the endpoints and endpointslice controller policy from source.
func EndpointsSource(ctx context.Context) ([]byte, error) {
	w := wasmDir()
	return build.Cached(ctx, filepath.Join(w, "policies", "endpoints", "module"),
		filepath.Join(w, "policies", "endpoints"), filepath.Join(w, "policies", "internal"),
		filepath.Join(w, "sdk"), filepath.Join(w, "abi"))
}

// Endpoints returns the endpoints controller module, built from source when the embedded one is
// the placeholder. It fails the test if neither works.
func Endpoints(t testing.TB) []byte {
	t.Helper()
	b, err := builtin.Endpoints()
	if err == nil {
		return b
	}
	if !errors.Is(err, builtin.ErrNotBuilt) {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err = EndpointsSource(ctx)
	if err != nil {
		t.Fatalf("build the endpoints controller module: %v", err)
	}
	return b
}
