package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// instance is one running copy of a module. It is used by one goroutine at a time (the pool
// hands it out); its function handles and call stack are looked up once and reused.
type instance struct {
	m     *Module
	mod   api.Module
	mem   api.Memory
	out   *tailWriter
	stack []uint64

	version, arenaFn, configure, info, filter, score, reconcile api.Function

	arenaPtr, arenaSize uint32
}

// newInstance starts an instance: the guest's initialisation, the ABI version check, the arena
// and the configuration, all within the init timeout.
func (m *Module) newInstance(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithTimeout(ctx, m.h.cfg.InitTimeout)
	defer cancel()
	out := &tailWriter{log: m.logs, tail: make([]byte, 0, tailLimit)}
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions(m.start...).WithStdout(out).WithStderr(out)
	mod, err := m.h.rt.InstantiateModule(ctx, m.compiled, cfg)
	if err != nil {
		return nil, m.classify(ctx, "instantiate", err, out)
	}
	in := &instance{m: m, mod: mod, mem: mod.Memory(), out: out, stack: make([]uint64, 2),
		version:   mod.ExportedFunction(abi.ExportVersion),
		arenaFn:   mod.ExportedFunction(abi.ExportArena),
		configure: mod.ExportedFunction(abi.ExportConfigure),
		info:      mod.ExportedFunction(abi.ExportInfo),
		filter:    mod.ExportedFunction(abi.ExportFilter),
		score:     mod.ExportedFunction(abi.ExportScore),
		reconcile: mod.ExportedFunction(abi.ExportReconcile),
	}
	m.stats.created.Add(1)
	if err := in.init(ctx); err != nil {
		in.close()
		return nil, err
	}
	return in, nil
}

func (in *instance) init(ctx context.Context) error {
	v, err := in.call(ctx, abi.ExportVersion, in.version)
	if err != nil {
		return err
	}
	if v != abi.Version {
		return &Error{Module: in.m.name, Op: abi.ExportVersion, Kind: ErrABIVersion,
			Err: fmt.Errorf("module implements ABI version %d, host implements %d", v, abi.Version)}
	}
	if err := in.ensureArena(ctx, in.m.h.cfg.ArenaSize); err != nil {
		return err
	}
	if in.configure != nil && in.m.opts.Config != nil {
		out, status, err := in.callJSON(ctx, abi.ExportConfigure, in.configure, in.m.opts.Config)
		if err != nil {
			return err
		}
		if status != abi.StatusOK {
			return &Error{Module: in.m.name, Op: abi.ExportConfigure, Kind: ErrConfig,
				Err: fmt.Errorf("status %d: %s", status, truncate(out, 200))}
		}
	}
	return nil
}

func (in *instance) close() { in.mod.Close(context.Background()) }

// call runs f with the instance's reusable stack and returns its i32 result.
func (in *instance) call(ctx context.Context, op string, f api.Function, params ...uint64) (int32, error) {
	in.out.reset()
	copy(in.stack, params)
	if err := f.CallWithStack(ctx, in.stack); err != nil {
		return 0, in.m.classify(ctx, op, err, in.out)
	}
	return int32(uint32(in.stack[0])), nil
}

// classify turns a failed guest call into an *Error.
func (m *Module) classify(ctx context.Context, op string, err error, out *tailWriter) error {
	e := &Error{Module: m.name, Op: op, Kind: ErrTrap, Err: err}
	var exit *sys.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded:
		e.Kind = ErrTimeout
		e.Err = errors.New("the guest ran past its deadline and was stopped")
		if ctx.Err() == context.Canceled {
			e.Kind = context.Canceled
		}
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled:
		e.Kind = context.Canceled
	case out.outOfMemory():
		e.Kind = ErrMemoryLimit
		e.Err = fmt.Errorf("guest ran out of memory under the %d MiB cap: %s", m.h.cfg.MemoryLimit>>20, out.reason())
	default:
		if r := out.reason(); r != "" {
			e.Err = fmt.Errorf("%s (%w)", r, err)
		}
	}
	return e
}

// ensureArena makes the guest's arena at least need bytes, asking the guest for a bigger one
// (a quarter more, rounded to 64 KiB) when it is smaller.
func (in *instance) ensureArena(ctx context.Context, need uint32) error {
	if need <= in.arenaSize {
		return nil
	}
	size := uint64(need) + uint64(need)/4
	size = (size + 0xffff) &^ 0xffff
	if size >= in.m.h.cfg.MemoryLimit {
		return &Error{Module: in.m.name, Op: abi.ExportArena, Kind: ErrMemoryLimit,
			Err: fmt.Errorf("call needs an arena of %d bytes, over the %d byte memory cap", need, in.m.h.cfg.MemoryLimit)}
	}
	ptr, err := in.call(ctx, abi.ExportArena, in.arenaFn, size)
	if err != nil {
		return err
	}
	if p := uint64(uint32(ptr)); p == 0 || p+size > uint64(in.mem.Size()) {
		return &Error{Module: in.m.name, Op: abi.ExportArena, Kind: ErrBadOutput,
			Err: fmt.Errorf("arena of %d bytes at %#x lies outside the %d bytes of memory", size, p, in.mem.Size())}
	}
	in.arenaPtr, in.arenaSize = uint32(ptr), uint32(size)
	return nil
}

// arena is the guest's arena as a host slice. Re-read it after every call: a guest that grows
// its memory moves the host's view of it.
func (in *instance) arena() []byte {
	b, ok := in.mem.Read(in.arenaPtr, in.arenaSize)
	if !ok {
		return nil
	}
	return b
}

func (in *instance) badOutput(op string, err error) error {
	return &Error{Module: in.m.name, Op: op, Kind: ErrBadOutput, Err: err}
}

func (in *instance) checkStatus(op string, status int32) error {
	if abi.Status(status) == abi.StatusOK {
		return nil
	}
	return in.badOutput(op, fmt.Errorf("status %d", status))
}

// schedule runs one scheduling decision: filter over all nodes, then score over the feasible.
func (in *instance) schedule(ctx context.Context, hooks Hooks, input *abi.Input, res *abi.Result) error {
	if err := in.ensureArena(ctx, abi.ScheduleSize(input)); err != nil {
		return err
	}
	buf := in.arena()
	l, err := abi.EncodeSchedule(buf, input)
	if err != nil {
		return in.badOutput(abi.ExportArena, err)
	}
	res.Reset(len(input.Nodes))
	if hooks.Filter {
		status, err := in.call(ctx, abi.ExportFilter, in.filter)
		if err != nil {
			return err
		}
		if err := in.checkStatus(abi.ExportFilter, status); err != nil {
			return err
		}
		buf = in.arena()
		if err := abi.ReadVerdicts(buf, l, res); err != nil {
			return in.badOutput(abi.ExportFilter, err)
		}
	} else {
		for i := range res.Verdicts {
			res.Verdicts[i] = abi.NodeVerdict{Verdict: abi.Feasible}
			res.Feasible = append(res.Feasible, uint32(i))
		}
	}
	if len(res.Feasible) == 0 {
		return nil
	}
	if !hooks.Score {
		for range res.Feasible {
			res.Scores = append(res.Scores, 0)
		}
		return nil
	}
	return in.scoreNodes(ctx, buf, l, res.Feasible, &res.Scores)
}

// scoreNodes scores the candidates idx into *scores.
func (in *instance) scoreNodes(ctx context.Context, buf []byte, l abi.Layout, idx []uint32, scores *[]int32) error {
	if err := abi.WriteCandidates(buf, l, idx); err != nil {
		return in.badOutput(abi.ExportScore, err)
	}
	status, err := in.call(ctx, abi.ExportScore, in.score)
	if err != nil {
		return err
	}
	if err := in.checkStatus(abi.ExportScore, status); err != nil {
		return err
	}
	*scores, err = abi.ReadScores(in.arena(), l, len(idx), (*scores)[:0])
	if err != nil {
		return in.badOutput(abi.ExportScore, err)
	}
	return nil
}

// callJSON makes a JSON call of f with input and returns a copy of the output and the status,
// growing the arena once if the guest asks for more output room.
func (in *instance) callJSON(ctx context.Context, op string, f api.Function, input []byte) ([]byte, abi.Status, error) {
	if err := in.ensureArena(ctx, abi.JSONSize(len(input), 4<<10)); err != nil {
		return nil, 0, err
	}
	for attempt := 0; ; attempt++ {
		l, err := abi.EncodeJSON(in.arena(), input)
		if err != nil {
			return nil, 0, in.badOutput(op, err)
		}
		status, err := in.call(ctx, op, f)
		if err != nil {
			return nil, 0, err
		}
		buf := in.arena()
		if abi.Status(status) == abi.StatusOutputTooLarge && attempt == 0 {
			need := int(abi.JSONOutLen(buf))
			if need > in.m.h.cfg.MaxOutput {
				return nil, 0, in.badOutput(op, fmt.Errorf("output of %d bytes exceeds the %d byte cap", need, in.m.h.cfg.MaxOutput))
			}
			if err := in.ensureArena(ctx, abi.JSONSize(len(input), need)); err != nil {
				return nil, 0, err
			}
			continue
		}
		out, err := abi.ReadJSON(buf, l)
		if err != nil {
			return nil, 0, in.badOutput(op, err)
		}
		if len(out) > in.m.h.cfg.MaxOutput {
			return nil, 0, in.badOutput(op, fmt.Errorf("output of %d bytes exceeds the %d byte cap", len(out), in.m.h.cfg.MaxOutput))
		}
		return append([]byte(nil), out...), abi.Status(status), nil
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
