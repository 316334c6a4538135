// Package runtime hosts Skiff's WebAssembly policy modules on wazero. One Host per process owns
// one wazero runtime and an on-disk compilation cache. Host.Load compiles a module, refuses it if
// it imports anything but WASI or lacks the ABI (../abi, ../ABI.md), starts one instance, checks
// its ABI version, hands it its configuration, asks it which hooks it implements and makes a
// dry-run call of each within the limits. A loaded Module serves calls from a pool of instances
// (GOMAXPROCS by default, created on demand), so concurrent callers do not serialise.
//
// The sandbox: no filesystem, network, environment or arguments (WASI without preopens, the
// clocks and random source are wazero's deterministic fakes); a memory cap per instance; a
// deadline per call (WithCloseOnContextDone, so a looping guest is stopped); guest stdout and
// stderr kept in a capped per-module log. A trap, a timeout or malformed output fails only that
// call with a typed *Error; the instance is discarded and replaced when it cannot be trusted, and
// a module failing QuarantineAfter calls in a row is quarantined for QuarantineFor, then tried again.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Config configures a Host. Start from DefaultConfig.
type Config struct {
	// CacheDir holds compiled modules across processes; "" keeps them in memory only.
	CacheDir string
	// MemoryLimit caps each instance's linear memory, in bytes (a multiple of 64 KiB).
	MemoryLimit uint64
	// CallTimeout bounds one call: a whole Schedule (filter and score) or one Reconcile.
	CallTimeout time.Duration
	// InitTimeout bounds starting an instance: the guest's initialisation and its configuration.
	InitTimeout time.Duration
	// PoolSize is the number of instances per module; 0 means GOMAXPROCS.
	PoolSize int
	// LogLimit is how many bytes of guest output each module keeps.
	LogLimit int
	// QuarantineAfter is how many failed calls in a row quarantine a module.
	QuarantineAfter int
	// QuarantineFor is how long a quarantined module refuses calls before a
	// trial call; one that succeeds lifts the quarantine, one that fails
	// starts another period.
	QuarantineFor time.Duration
	// MaxOutput caps a JSON answer (reconcile, info), in bytes.
	MaxOutput int
	// ArenaSize is the arena each instance starts with, in bytes; it grows on demand.
	ArenaSize uint32
	// NoInterrupt turns off interrupting guest code at its deadline. wazero implements the
	// interruption by leaving native code for a Go check at every loop back-edge (~40ns each on
	// the reference machine), which dominates a batched call's cost; without it a deadline is
	// only noticed between guest calls, and a looping guest holds its goroutine forever. Only
	// for trusted modules (the built-ins compiled into the binary), never for uploads.
	NoInterrupt bool
	// Logger receives load, discard and quarantine messages; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults: 64 MiB, 100 ms per call, a pool of GOMAXPROCS.
func DefaultConfig() Config {
	return Config{
		MemoryLimit:     64 << 20,
		CallTimeout:     100 * time.Millisecond,
		InitTimeout:     5 * time.Second,
		LogLimit:        64 << 10,
		QuarantineAfter: 5,
		QuarantineFor:   30 * time.Second,
		MaxOutput:       4 << 20,
		ArenaSize:       1 << 20,
	}
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	switch {
	case c.MemoryLimit < 4<<20 || c.MemoryLimit%(64<<10) != 0 || c.MemoryLimit > 4<<30:
		return fmt.Errorf("wasm runtime: memory limit %d must be a multiple of 64 KiB between 4 MiB and 4 GiB", c.MemoryLimit)
	case c.CallTimeout <= 0 || c.InitTimeout <= 0:
		return fmt.Errorf("wasm runtime: call timeout %v and init timeout %v must be positive", c.CallTimeout, c.InitTimeout)
	case c.QuarantineFor <= 0:
		return fmt.Errorf("wasm runtime: quarantine period %v must be positive", c.QuarantineFor)
	case c.PoolSize < 0 || c.LogLimit <= 0 || c.QuarantineAfter <= 0 || c.MaxOutput <= 0:
		return fmt.Errorf("wasm runtime: pool size %d, log limit %d, quarantine threshold %d and max output %d must be positive",
			c.PoolSize, c.LogLimit, c.QuarantineAfter, c.MaxOutput)
	case c.ArenaSize < 64<<10 || uint64(c.ArenaSize) >= c.MemoryLimit:
		return fmt.Errorf("wasm runtime: arena size %d must be at least 64 KiB and below the memory limit", c.ArenaSize)
	}
	return nil
}

// Host runs policy modules. It is safe for concurrent use.
type Host struct {
	cfg   Config
	rt    wazero.Runtime
	cache wazero.CompilationCache
	log   *slog.Logger
}

// New starts a Host: a wazero runtime with the memory cap, deadlines and the compilation cache,
// and WASI with nothing granted.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = goruntime.GOMAXPROCS(0)
	}
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm runtime: compilation cache %s: %w", cfg.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(uint32(cfg.MemoryLimit / (64 << 10))).
		WithCloseOnContextDone(!cfg.NoInterrupt).
		WithCompilationCache(cache)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("wasm runtime: instantiate WASI: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Host{cfg: cfg, rt: rt, cache: cache, log: log}, nil
}

// Config is the host's effective configuration.
func (h *Host) Config() Config { return h.cfg }

// Close stops every module and the runtime.
func (h *Host) Close(ctx context.Context) error {
	return errors.Join(h.rt.Close(ctx), h.cache.Close(ctx))
}

// ModuleOptions tune one module.
type ModuleOptions struct {
	// Config is handed to skiff_configure on every instance; nil skips the call.
	Config []byte
	// CallTimeout overrides the host's when positive.
	CallTimeout time.Duration
	// PoolSize overrides the host's when positive.
	PoolSize int
}

// Hooks are the entry points a module implements.
type Hooks struct {
	Filter, Score, Reconcile bool
}

// Load compiles and checks a module and starts its first instance. A module that imports
// anything but WASI, lacks the ABI exports, reports another ABI version, rejects its
// configuration or fails its dry run is refused with an *Error naming it.
func (h *Host) Load(ctx context.Context, name string, wasm []byte, opts ModuleOptions) (*Module, error) {
	fail := func(kind, err error) (*Module, error) {
		return nil, &Error{Module: name, Op: "load", Kind: kind, Err: err}
	}
	compiled, err := h.rt.CompileModule(ctx, wasm)
	if err != nil {
		return fail(ErrCompile, err)
	}
	start, hooks, err := checkModule(compiled)
	if err != nil {
		compiled.Close(ctx)
		var e *Error
		if errors.As(err, &e) {
			e.Module = name
			return nil, e
		}
		return nil, err
	}
	m := newModule(h, name, compiled, start, hooks, opts)
	if err := m.load(ctx); err != nil {
		m.Close(ctx)
		return nil, err
	}
	h.log.Info("wasm module loaded", "module", name, "filter", m.hooks.Filter, "score", m.hooks.Score, "reconcile", m.hooks.Reconcile)
	return m, nil
}
