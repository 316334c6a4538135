package runtime

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// dryRunInput is a small, well-formed decision every scheduler must answer within the limits.
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

// dryRun calls each claimed hook once with a known-good request and checks the answers. A hook
// answering StatusNotImplemented is taken as absent.
func (m *Module) dryRun(ctx context.Context, in *instance) error {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	if m.hooks.Filter || m.hooks.Score {
		if err := in.ensureArena(ctx, abi.ScheduleSize(&dryRunInput)); err != nil {
			return err
		}
		l, err := abi.EncodeSchedule(in.arena(), &dryRunInput)
		if err != nil {
			return err
		}
		var res abi.Result
		res.Reset(len(dryRunInput.Nodes))
		if m.hooks.Filter {
			status, err := in.call(ctx, abi.ExportFilter, in.filter)
			switch {
			case err != nil:
				return err
			case abi.Status(status) == abi.StatusNotImplemented:
				m.hooks.Filter = false
			default:
				if err := in.checkStatus(abi.ExportFilter, status); err != nil {
					return err
				}
				if err := abi.ReadVerdicts(in.arena(), l, &res); err != nil {
					return in.badOutput(abi.ExportFilter, err)
				}
			}
		}
		if m.hooks.Score {
			if err := abi.WriteCandidates(in.arena(), l, []uint32{0, 1, 2}); err != nil {
				return err
			}
			status, err := in.call(ctx, abi.ExportScore, in.score)
			switch {
			case err != nil:
				return err
			case abi.Status(status) == abi.StatusNotImplemented:
				m.hooks.Score = false
			default:
				if err := in.checkStatus(abi.ExportScore, status); err != nil {
					return err
				}
				if _, err := abi.ReadScores(in.arena(), l, 3, nil); err != nil {
					return in.badOutput(abi.ExportScore, err)
				}
			}
		}
	}
	if m.hooks.Reconcile {
		out, status, err := in.callJSON(ctx, abi.ExportReconcile, in.reconcile, []byte(`{"key":"dry-run","dryRun":true}`))
		switch {
		case err != nil:
			return err
		case status == abi.StatusNotImplemented:
			m.hooks.Reconcile = false
		case status != abi.StatusOK:
			return in.badOutput(abi.ExportReconcile, fmt.Errorf("dry run: status %d: %s", status, truncate(out, 200)))
		default:
			var res abi.ReconcileResult
			if err := json.Unmarshal(out, &res); err != nil {
				return in.badOutput(abi.ExportReconcile, fmt.Errorf("dry run: decode %s: %w", truncate(out, 200), err))
			}
		}
	}
	return nil
}
