package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// ErrPanic wraps a panic raised by a policy running natively.
var ErrPanic = errors.New("sdk: native policy panicked")

// NativeScheduler runs a Scheduler in the host process through the same encoding a wasm module
// gets, so its decisions are comparable with the module's byte for byte. It is safe for
// concurrent use; steady-state calls do not allocate.
type NativeScheduler struct {
	s    Scheduler
	bufs sync.Pool // *[]byte arenas
}

// NewNativeScheduler wraps s.
func NewNativeScheduler(s Scheduler) *NativeScheduler { return &NativeScheduler{s: s} }

// Configure hands config to the policy if it takes one.
func (n *NativeScheduler) Configure(config []byte) error {
	if c, ok := n.s.(Configurer); ok {
		return c.Configure(config)
	}
	return nil
}

// Schedule filters all of in.Nodes for in.Pod, then scores the feasible ones, into out.
// A policy panic or an invalid verdict or score is returned as an error.
func (n *NativeScheduler) Schedule(ctx context.Context, in *abi.Input, out *abi.Result) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	size := abi.ScheduleSize(in)
	bp, _ := n.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if uint32(len(*bp)) < size {
		*bp = make([]byte, size+size/4)
	}
	defer n.bufs.Put(bp)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	buf := *bp
	l, err := abi.EncodeSchedule(buf, in)
	if err != nil {
		return err
	}
	out.Reset(len(in.Nodes))
	req, err := abi.ParseSchedule(buf)
	if err != nil {
		return err
	}
	n.s.Filter(req.Pod(), req.Nodes(), req.Verdicts())
	if err := abi.ReadVerdicts(buf, l, out); err != nil {
		return err
	}
	if len(out.Feasible) == 0 {
		return nil
	}
	if err := abi.WriteCandidates(buf, l, out.Feasible); err != nil {
		return err
	}
	n.s.Score(req.Pod(), req.Candidates(), req.Scores())
	out.Scores, err = abi.ReadScores(buf, l, len(out.Feasible), out.Scores[:0])
	return err
}

// NativeReconciler runs a Reconciler in the host process. Requests and results round-trip
// through JSON, as they do for a module.
type NativeReconciler struct{ r Reconciler }

// NewNativeReconciler wraps r.
func NewNativeReconciler(r Reconciler) *NativeReconciler { return &NativeReconciler{r: r} }

// Reconcile runs the policy on req.
func (n *NativeReconciler) Reconcile(ctx context.Context, req *abi.ReconcileRequest) (res *abi.ReconcileResult, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode reconcile request %q: %w", req.Key, err)
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%w: reconcile %q: %v", ErrPanic, req.Key, r)
		}
	}()
	out, status := reconcileJSON(n.r, in)
	if status != abi.StatusOK {
		return nil, fmt.Errorf("reconcile %q: status %d: %s", req.Key, status, out)
	}
	res = &abi.ReconcileResult{}
	if err := json.Unmarshal(out, res); err != nil {
		return nil, fmt.Errorf("decode reconcile result %q: %w", req.Key, err)
	}
	return res, nil
}
