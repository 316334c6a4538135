package playground

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// Memory is a guest's linear memory and exports as the host sees them:
// wasm/runtime over wazero on the server, the browser's WebAssembly engine
// through guest_js.go. Calls answer a hook's i32 result, or an error when
// the guest trapped.
type Memory interface {
	// Has reports whether the guest exports the function.
	Has(export string) bool
	// Call calls an exported function with i32 arguments.
	Call(export string, args ...uint32) (int32, error)
	// Read copies guest memory at off into dst.
	Read(off uint32, dst []byte) error
	// Write copies src into guest memory at off.
	Write(off uint32, src []byte) error
}

// Guest drives one instantiated module through ABI v1 exactly as
// wasm/runtime's instance does: the arena grown by a quarter rounded to
// 64 KiB, a dry run that takes hooks answering "not implemented" as absent,
// filter then score on the same arena. It has no deadline and no memory cap
// of its own: the browser runs what its user chose.
type Guest struct {
	mem       Memory
	hooks     Hooks
	arena     uint32 // guest address
	arenaSize uint32
	buf       []byte
	info      abi.Info
}

// Hooks are the scheduler hooks a guest implements.
type Hooks struct {
	Filter bool `json:"filter"`
	Score  bool `json:"score"`
}

// ArenaSize is the arena a guest starts with (wasm/runtime's default).
const ArenaSize = 1 << 20

// NewGuest checks the exports and the ABI version, sizes the arena, reads
// the module's info and runs the dry run wasm/runtime runs at load.
func NewGuest(mem Memory) (*Guest, error) {
	for _, e := range []string{abi.ExportVersion, abi.ExportArena} {
		if !mem.Has(e) {
			return nil, fmt.Errorf("playground: module does not export %s", e)
		}
	}
	v, err := mem.Call(abi.ExportVersion)
	if err != nil {
		return nil, fmt.Errorf("playground: %s: %w", abi.ExportVersion, err)
	}
	if v != abi.Version {
		return nil, fmt.Errorf("playground: module speaks ABI version %d, want %d", v, abi.Version)
	}
	g := &Guest{mem: mem, hooks: Hooks{Filter: mem.Has(abi.ExportFilter), Score: mem.Has(abi.ExportScore)}}
	if !g.hooks.Filter && !g.hooks.Score {
		return nil, errors.New("playground: module has no scheduler hooks (skiff_filter, skiff_score)")
	}
	if err := g.ensureArena(ArenaSize); err != nil {
		return nil, err
	}
	if mem.Has(abi.ExportInfo) {
		if out, status, err := g.callJSON(abi.ExportInfo, nil); err == nil && status == abi.StatusOK {
			_ = json.Unmarshal(out, &g.info) // info is optional: a module answering garbage has none
		}
	}
	if err := g.dryRun(); err != nil {
		return nil, err
	}
	return g, nil
}

// Hooks are the hooks left after the dry run.
func (g *Guest) Hooks() Hooks { return g.hooks }

// Info is the module's skiff_info answer (empty without one).
func (g *Guest) Info() abi.Info { return g.info }

func (g *Guest) ensureArena(need uint32) error {
	if need <= g.arenaSize {
		return nil
	}
	size := uint64(need) + uint64(need)/4
	size = (size + 0xffff) &^ 0xffff
	if size > 1<<31 {
		return fmt.Errorf("playground: call needs an arena of %d bytes", need)
	}
	ptr, err := g.mem.Call(abi.ExportArena, uint32(size))
	if err != nil {
		return fmt.Errorf("playground: %s: %w", abi.ExportArena, err)
	}
	if ptr == 0 {
		return fmt.Errorf("playground: %s(%d) failed (returned 0)", abi.ExportArena, size)
	}
	g.arena, g.arenaSize = uint32(ptr), uint32(size)
	return nil
}

// call calls a hook and reads back the first n bytes of the arena.
func (g *Guest) call(export string, n uint32) (abi.Status, error) {
	if err := g.mem.Write(g.arena, g.buf[:n]); err != nil {
		return 0, fmt.Errorf("playground: write arena for %s: %w", export, err)
	}
	status, err := g.mem.Call(export)
	if err != nil {
		return 0, fmt.Errorf("playground: %s trapped: %w", export, err)
	}
	if err := g.mem.Read(g.arena, g.buf[:n]); err != nil {
		return 0, fmt.Errorf("playground: read arena after %s: %w", export, err)
	}
	return abi.Status(status), nil
}

func (g *Guest) grow(n uint32) []byte {
	if uint32(cap(g.buf)) < n {
		g.buf = make([]byte, n)
	}
	return g.buf[:n]
}

func (g *Guest) callJSON(export string, input []byte) ([]byte, abi.Status, error) {
	size := abi.JSONSize(len(input), 4<<10)
	if err := g.ensureArena(size); err != nil {
		return nil, 0, err
	}
	l, err := abi.EncodeJSON(g.grow(size), input)
	if err != nil {
		return nil, 0, err
	}
	status, err := g.call(export, size)
	if err != nil {
		return nil, 0, err
	}
	out, err := abi.ReadJSON(g.buf[:size], l)
	return out, status, err
}

// Schedule filters all of in.Nodes, then scores the feasible ones. A guest
// without a filter finds every node feasible; one without a score scores
// them all 0.
func (g *Guest) Schedule(_ context.Context, in *abi.Input, res *abi.Result) error {
	size := abi.ScheduleSize(in)
	if err := g.ensureArena(size); err != nil {
		return err
	}
	l, err := abi.EncodeSchedule(g.grow(size), in)
	if err != nil {
		return fmt.Errorf("playground: %w", err)
	}
	res.Reset(len(in.Nodes))
	if g.hooks.Filter {
		status, err := g.call(abi.ExportFilter, size)
		if err != nil {
			return err
		}
		if status != abi.StatusOK {
			return fmt.Errorf("playground: %s: bad output: status %d", abi.ExportFilter, status)
		}
		if err := abi.ReadVerdicts(g.buf[:size], l, res); err != nil {
			return fmt.Errorf("playground: %s: bad output: %w", abi.ExportFilter, err)
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
	if !g.hooks.Score {
		for range res.Feasible {
			res.Scores = append(res.Scores, 0)
		}
		return nil
	}
	if err := abi.WriteCandidates(g.buf[:size], l, res.Feasible); err != nil {
		return fmt.Errorf("playground: %w", err)
	}
	status, err := g.call(abi.ExportScore, size)
	if err != nil {
		return err
	}
	if status != abi.StatusOK {
		return fmt.Errorf("playground: %s: bad output: status %d", abi.ExportScore, status)
	}
	res.Scores, err = abi.ReadScores(g.buf[:size], l, len(res.Feasible), res.Scores[:0])
	if err != nil {
		return fmt.Errorf("playground: %s: bad output: %w", abi.ExportScore, err)
	}
	return nil
}

// dryRunInput is wasm/runtime's load-time decision.
var dryRunInput = abi.Input{
	Pod: abi.PodInput{CPUMilli: 100, MemoryBytes: 64 << 20, NodeSelector: []abi.Label{{Key: 4, Value: 5}},
		Tolerations: []abi.Toleration{{Key: 6, Op: abi.TolerateExists}}},
	Nodes: []abi.NodeInput{
		{AllocCPUMilli: 4000, AllocMemory: 8 << 30, AllocPods: 110, Pods: 3, ReqCPUMilli: 500, ReqMemory: 1 << 30, Name: 1,
			Flags: abi.NodeReady, Labels: []abi.Label{{Key: 4, Value: 5}}},
		{AllocCPUMilli: 50, AllocMemory: 1 << 30, AllocPods: 110, Name: 2, Flags: abi.NodeReady,
			Taints: []abi.Taint{{Key: 6, Effect: abi.EffectNoSchedule}}},
		{AllocCPUMilli: 8000, AllocMemory: 16 << 30, AllocPods: 110, Name: 3, Flags: abi.NodeUnschedulable},
	},
	Strings: []string{"", "node-a", "node-b", "node-c", "zone", "a", "dedicated"},
}

// dryRun decides dryRunInput once; a hook answering StatusNotImplemented
// is taken as absent, any other failure refuses the module.
func (g *Guest) dryRun() error {
	size := abi.ScheduleSize(&dryRunInput)
	if err := g.ensureArena(size); err != nil {
		return err
	}
	l, err := abi.EncodeSchedule(g.grow(size), &dryRunInput)
	if err != nil {
		return err
	}
	var res abi.Result
	res.Reset(len(dryRunInput.Nodes))
	if g.hooks.Filter {
		status, err := g.call(abi.ExportFilter, size)
		switch {
		case err != nil:
			return fmt.Errorf("dry run: %w", err)
		case status == abi.StatusNotImplemented:
			g.hooks.Filter = false
		case status != abi.StatusOK:
			return fmt.Errorf("playground: dry run: %s: status %d", abi.ExportFilter, status)
		default:
			if err := abi.ReadVerdicts(g.buf[:size], l, &res); err != nil {
				return fmt.Errorf("playground: dry run: %s: %w", abi.ExportFilter, err)
			}
		}
	}
	if g.hooks.Score {
		if err := abi.WriteCandidates(g.buf[:size], l, []uint32{0, 1, 2}); err != nil {
			return err
		}
		status, err := g.call(abi.ExportScore, size)
		switch {
		case err != nil:
			return fmt.Errorf("dry run: %w", err)
		case status == abi.StatusNotImplemented:
			g.hooks.Score = false
		case status != abi.StatusOK:
			return fmt.Errorf("playground: dry run: %s: status %d", abi.ExportScore, status)
		default:
			if _, err := abi.ReadScores(g.buf[:size], l, 3, nil); err != nil {
				return fmt.Errorf("playground: dry run: %s: %w", abi.ExportScore, err)
			}
		}
	}
	if !g.hooks.Filter && !g.hooks.Score {
		return errors.New("playground: module implements neither filter nor score")
	}
	return nil
}
