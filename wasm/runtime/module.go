package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// Module is a loaded policy module. Its methods are safe for concurrent use; each call takes an
// instance from the module's pool and returns it.
type Module struct {
	h        *Host
	name     string
	compiled wazero.CompiledModule
	start    []string
	opts     ModuleOptions
	timeout  time.Duration
	hooks    Hooks
	info     abi.Info
	logs     *logBuffer

	size   int32
	live   atomic.Int32
	free   chan *instance
	wakeMu sync.Mutex
	wake   chan struct{} // closed and replaced when an instance is discarded
	closed atomic.Bool

	consecutive atomic.Int32
	quarantined atomic.Bool
	// retryAt is when a quarantined module gets a trial call (unix nanos).
	retryAt atomic.Int64
	stats   counters
}

type counters struct {
	calls, failures, timeouts, traps, memory, badOutputs, rejected, created, discarded atomic.Uint64
}

// Stats are a module's counters since it was loaded.
type Stats struct {
	Calls               uint64 // calls made (Schedule, Reconcile), failed or not
	Failures            uint64 // calls the module is to blame for: the sum of the four below
	Timeouts            uint64
	Traps               uint64
	MemoryLimits        uint64
	BadOutputs          uint64
	Rejected            uint64 // calls refused while quarantined
	InstancesCreated    uint64
	InstancesDiscarded  uint64
	Instances           int // live now
	ConsecutiveFailures int
	Quarantined         bool
}

func newModule(h *Host, name string, c wazero.CompiledModule, start []string, hooks Hooks, opts ModuleOptions) *Module {
	size := h.cfg.PoolSize
	if opts.PoolSize > 0 {
		size = opts.PoolSize
	}
	timeout := h.cfg.CallTimeout
	if opts.CallTimeout > 0 {
		timeout = opts.CallTimeout
	}
	return &Module{h: h, name: name, compiled: c, start: start, opts: opts, timeout: timeout, hooks: hooks,
		logs: &logBuffer{limit: h.cfg.LogLimit}, size: int32(size),
		free: make(chan *instance, size), wake: make(chan struct{})}
}

// load starts the first instance, reads the module's info and dry-runs its hooks.
func (m *Module) load(ctx context.Context) error {
	m.live.Add(1)
	in, err := m.newInstance(ctx)
	if err != nil {
		m.live.Add(-1)
		return err
	}
	if in.info != nil {
		cctx, cancel := context.WithTimeout(ctx, m.timeout)
		out, status, err := in.callJSON(cctx, abi.ExportInfo, in.info, nil)
		cancel()
		if err != nil {
			m.discard(in)
			return err
		}
		if status == abi.StatusOK && len(out) > 0 {
			if err := json.Unmarshal(out, &m.info); err != nil {
				m.discard(in)
				return in.badOutput(abi.ExportInfo, fmt.Errorf("decode %s: %w", truncate(out, 200), err))
			}
		}
	}
	if err := m.dryRun(ctx, in); err != nil {
		m.discard(in)
		return err
	}
	if !m.hooks.Filter && !m.hooks.Score && !m.hooks.Reconcile {
		m.discard(in)
		return &Error{Module: m.name, Op: "load", Kind: ErrMissingExport, Err: errors.New("every exported hook answered not-implemented")}
	}
	m.free <- in
	return nil
}

// Name is the name the module was loaded under.
func (m *Module) Name() string { return m.name }

// Hooks are the hooks the module implements (exported, and not answering not-implemented).
func (m *Module) Hooks() Hooks { return m.hooks }

// Info is what the module said about itself (skiff_info), if anything.
func (m *Module) Info() abi.Info { return m.info }

// Logs are the last bytes the module's instances wrote to stdout and stderr.
func (m *Module) Logs() string { return m.logs.String() }

// Quarantined reports whether the module refuses calls after failing too often in a row.
func (m *Module) Quarantined() bool { return m.quarantined.Load() }

// Release lifts a quarantine.
func (m *Module) Release() {
	m.consecutive.Store(0)
	m.quarantined.Store(false)
}

// Stats returns the module's counters.
func (m *Module) Stats() Stats {
	s := &m.stats
	return Stats{Calls: s.calls.Load(), Failures: s.failures.Load(), Timeouts: s.timeouts.Load(),
		Traps: s.traps.Load(), MemoryLimits: s.memory.Load(), BadOutputs: s.badOutputs.Load(),
		Rejected: s.rejected.Load(), InstancesCreated: s.created.Load(), InstancesDiscarded: s.discarded.Load(),
		Instances: int(m.live.Load()), ConsecutiveFailures: int(m.consecutive.Load()), Quarantined: m.quarantined.Load()}
}

// Warm starts instances until the pool is full, so later calls do not pay for instantiation.
func (m *Module) Warm(ctx context.Context) error {
	var got []*instance
	defer func() {
		for _, in := range got {
			m.put(in)
		}
	}()
	for m.live.Load() < m.size {
		in, err := m.get(ctx)
		if err != nil {
			return err
		}
		got = append(got, in)
	}
	return nil
}

// Close stops the module's idle instances and releases its compiled code; calls in flight
// finish, later calls fail with ErrClosed.
func (m *Module) Close(ctx context.Context) error {
	if m.closed.Swap(true) {
		return nil
	}
	for {
		select {
		case in := <-m.free:
			in.close()
			m.live.Add(-1)
		default:
			return m.compiled.Close(ctx)
		}
	}
}

// get takes an idle instance, starts a new one if the pool is not full, or waits for one.
func (m *Module) get(ctx context.Context) (*instance, error) {
	for {
		if m.closed.Load() {
			return nil, &Error{Module: m.name, Op: "call", Kind: ErrClosed}
		}
		select {
		case in := <-m.free:
			return in, nil
		default:
		}
		if n := m.live.Load(); n < m.size {
			if !m.live.CompareAndSwap(n, n+1) {
				continue
			}
			in, err := m.newInstance(ctx)
			if err != nil {
				m.live.Add(-1)
				m.wakeAll()
				return nil, err
			}
			return in, nil
		}
		m.wakeMu.Lock()
		wake := m.wake
		m.wakeMu.Unlock()
		select {
		case in := <-m.free:
			return in, nil
		case <-wake:
		case <-ctx.Done():
			return nil, &Error{Module: m.name, Op: "call", Kind: ctx.Err(), Err: errors.New("waiting for a free instance")}
		}
	}
}

func (m *Module) put(in *instance) {
	if m.closed.Load() {
		m.discard(in)
		return
	}
	m.free <- in
}

// discard closes an instance that cannot be trusted; the pool starts a new one when needed.
func (m *Module) discard(in *instance) {
	in.close()
	m.live.Add(-1)
	m.stats.discarded.Add(1)
	m.wakeAll()
}

func (m *Module) wakeAll() {
	m.wakeMu.Lock()
	close(m.wake)
	m.wake = make(chan struct{})
	m.wakeMu.Unlock()
}

// begin refuses calls to a quarantined or closed module, but for trial
// calls once its quarantine has lasted QuarantineFor.
func (m *Module) begin(op string) error {
	if m.quarantined.Load() && time.Now().UnixNano() < m.retryAt.Load() {
		m.stats.rejected.Add(1)
		return &Error{Module: m.name, Op: op, Kind: ErrQuarantined,
			Err: fmt.Errorf("%d calls failed in a row", m.consecutive.Load())}
	}
	return nil
}

// finish accounts for a call and returns the instance to the pool or discards it.
func (m *Module) finish(parent context.Context, in *instance, err error) error {
	m.stats.calls.Add(1)
	if err == nil {
		m.consecutive.Store(0)
		if m.quarantined.Swap(false) {
			m.h.log.Info("wasm module released from quarantine: a trial call succeeded", "module", m.name)
		}
		m.put(in)
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		m.put(in)
		return err
	}
	if perr := parent.Err(); perr != nil && e.Kind != ErrBadOutput {
		e.Kind = perr // the caller gave up; the module is not to blame
	}
	if e.discards() {
		m.discard(in)
	} else {
		m.put(in)
	}
	if e.countsAsFailure() {
		m.stats.failures.Add(1)
		switch e.Kind {
		case ErrTimeout:
			m.stats.timeouts.Add(1)
		case ErrTrap:
			m.stats.traps.Add(1)
		case ErrMemoryLimit:
			m.stats.memory.Add(1)
		case ErrBadOutput:
			m.stats.badOutputs.Add(1)
		}
		if n := m.consecutive.Add(1); int(n) >= m.h.cfg.QuarantineAfter {
			m.retryAt.Store(time.Now().Add(m.h.cfg.QuarantineFor).UnixNano())
			if !m.quarantined.Swap(true) {
				m.h.log.Warn("wasm module quarantined", "module", m.name, "consecutiveFailures", n, "retryIn", m.h.cfg.QuarantineFor, "lastError", err)
			}
		}
	}
	return e
}

// Schedule decides one pod: it filters all of in.Nodes, then scores the feasible ones, on one
// instance, within one call deadline. A module without a filter hook finds every node feasible;
// one without a score hook scores them all 0. The result is in out (reused across calls).
func (m *Module) Schedule(ctx context.Context, in *abi.Input, out *abi.Result) error {
	if !m.hooks.Filter && !m.hooks.Score {
		return &Error{Module: m.name, Op: "schedule", Kind: ErrMissingExport, Err: errors.New("module has no scheduler hooks")}
	}
	if err := m.begin("schedule"); err != nil {
		return err
	}
	inst, err := m.get(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, m.timeout)
	err = inst.schedule(cctx, m.hooks, in, out)
	cancel()
	return m.finish(ctx, inst, err)
}

// Reconcile runs the module's controller on one object and what it owns.
func (m *Module) Reconcile(ctx context.Context, req *abi.ReconcileRequest) (*abi.ReconcileResult, error) {
	if !m.hooks.Reconcile {
		return nil, &Error{Module: m.name, Op: abi.ExportReconcile, Kind: ErrMissingExport, Err: errors.New("module has no reconcile hook")}
	}
	if err := m.begin(abi.ExportReconcile); err != nil {
		return nil, err
	}
	input, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("wasm module %q: encode reconcile request %q: %w", m.name, req.Key, err)
	}
	inst, err := m.get(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, m.timeout)
	res, err := inst.reconcileJSON(cctx, input)
	cancel()
	return res, m.finish(ctx, inst, err)
}

func (in *instance) reconcileJSON(ctx context.Context, input []byte) (*abi.ReconcileResult, error) {
	out, status, err := in.callJSON(ctx, abi.ExportReconcile, in.reconcile, input)
	if err != nil {
		return nil, err
	}
	if status != abi.StatusOK {
		return nil, in.badOutput(abi.ExportReconcile, fmt.Errorf("status %d: %s", status, truncate(out, 200)))
	}
	res := &abi.ReconcileResult{}
	if err := json.Unmarshal(out, res); err != nil {
		return nil, in.badOutput(abi.ExportReconcile, fmt.Errorf("decode %s: %w", truncate(out, 200), err))
	}
	return res, nil
}
