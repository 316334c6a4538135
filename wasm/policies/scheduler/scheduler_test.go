package scheduler_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
	"github.com/skiff-sh/skiff/wasm/policies/scheduler"
	"github.com/skiff-sh/skiff/wasm/runtime"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

// String ids of the test inputs.
const (
	sEmpty = iota
	sZone
	sA
	sB
	sDedicated
	sGPU
	sUnsched
	sNotReady
	sCores
	s4
	s8
	sImage
	sOwner
	sNode0 // node names from here
)

var strs = []string{"", "zone", "a", "b", "dedicated", "gpu", scheduler.TaintUnschedulable, scheduler.TaintNotReady, "cores", "4", "8", "img", "owner"}

func node(i int) abi.NodeInput {
	return abi.NodeInput{AllocCPUMilli: 4000, AllocMemory: 8 << 30, AllocPods: 110, Name: sNode0 + uint32(i),
		Flags: abi.NodeReady, Labels: []abi.Label{{Key: sZone, Value: sA}, {Key: sCores, Value: s4}}}
}

func input(pod abi.PodInput, nodes ...abi.NodeInput) *abi.Input {
	in := &abi.Input{Pod: pod, Nodes: nodes, Strings: slices.Clone(strs)}
	for i := range nodes {
		in.Strings = append(in.Strings, "node-"+string(rune('0'+i)))
	}
	return in
}

func TestFilter(t *testing.T) {
	small := abi.PodInput{CPUMilli: 500, MemoryBytes: 1 << 30}
	with := func(f func(*abi.NodeInput)) abi.NodeInput { n := node(0); f(&n); return n }
	pod := func(f func(*abi.PodInput)) abi.PodInput { p := small; f(&p); return p }
	cases := []struct {
		name string
		pod  abi.PodInput
		node abi.NodeInput
		want abi.NodeVerdict
	}{
		{"fits", small, node(0), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"no cpu left", small, with(func(n *abi.NodeInput) { n.ReqCPUMilli = 3600 }), abi.NodeVerdict{Verdict: abi.Unschedulable, Reasons: abi.ReasonInsufficientCPU}},
		{"exactly full cpu fits", small, with(func(n *abi.NodeInput) { n.ReqCPUMilli = 3500 }), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"no memory left", small, with(func(n *abi.NodeInput) { n.ReqMemory = 7<<30 + 1 }), abi.NodeVerdict{Verdict: abi.Unschedulable, Reasons: abi.ReasonInsufficientMemory}},
		{"pod count", small, with(func(n *abi.NodeInput) { n.Pods = 110 }), abi.NodeVerdict{Verdict: abi.Unschedulable, Reasons: abi.ReasonTooManyPods}},
		{"best effort pod on a full node", abi.PodInput{}, with(func(n *abi.NodeInput) { n.ReqCPUMilli = 4000 }), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"node name", pod(func(p *abi.PodInput) { p.NodeName = sNode0 + 1 }), node(0), abi.NodeVerdict{Verdict: abi.Unresolvable, Reasons: abi.ReasonNodeName}},
		{"node name matches", pod(func(p *abi.PodInput) { p.NodeName = sNode0 }), node(0), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"selector", pod(func(p *abi.PodInput) { p.NodeSelector = []abi.Label{{Key: sZone, Value: sB}} }), node(0), abi.NodeVerdict{Verdict: abi.Unresolvable, Reasons: abi.ReasonNodeSelector}},
		{"selector matches", pod(func(p *abi.PodInput) { p.NodeSelector = []abi.Label{{Key: sZone, Value: sA}} }), node(0), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"affinity In", pod(func(p *abi.PodInput) {
			p.Affinity = []abi.Term{{Exprs: []abi.Expr{{Key: sZone, Op: abi.OpIn, Values: []uint32{sB}}}}, {Exprs: []abi.Expr{{Key: sZone, Op: abi.OpIn, Values: []uint32{sA, sB}}}}}
		}), node(0), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"affinity NotIn", pod(func(p *abi.PodInput) {
			p.Affinity = []abi.Term{{Exprs: []abi.Expr{{Key: sZone, Op: abi.OpNotIn, Values: []uint32{sA}}}}}
		}), node(0), abi.NodeVerdict{Verdict: abi.Unresolvable, Reasons: abi.ReasonNodeSelector}},
		{"affinity DoesNotExist", pod(func(p *abi.PodInput) {
			p.Affinity = []abi.Term{{Exprs: []abi.Expr{{Key: sDedicated, Op: abi.OpDoesNotExist}, {Key: sZone, Op: abi.OpExists}}}}
		}), node(0), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"affinity empty term matches nothing", pod(func(p *abi.PodInput) { p.Affinity = []abi.Term{{}} }), node(0), abi.NodeVerdict{Verdict: abi.Unresolvable, Reasons: abi.ReasonNodeSelector}},
		{"affinity Gt", pod(func(p *abi.PodInput) {
			p.Affinity = []abi.Term{{Exprs: []abi.Expr{{Key: sCores, Op: abi.OpGt, Values: []uint32{s8}}}}}
		}), node(0), abi.NodeVerdict{Verdict: abi.Unresolvable, Reasons: abi.ReasonNodeSelector}},
		{"affinity Lt", pod(func(p *abi.PodInput) {
			p.Affinity = []abi.Term{{Exprs: []abi.Expr{{Key: sCores, Op: abi.OpLt, Values: []uint32{s8}}}}}
		}), node(0), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"taint", small, with(func(n *abi.NodeInput) {
			n.Taints = []abi.Taint{{Key: sDedicated, Value: sGPU, Effect: abi.EffectNoSchedule}}
		}), abi.NodeVerdict{Verdict: abi.Unresolvable, Reasons: abi.ReasonUntoleratedTaint}},
		{"taint tolerated", pod(func(p *abi.PodInput) {
			p.Tolerations = []abi.Toleration{{Key: sDedicated, Value: sGPU, Op: abi.TolerateEqual}}
		}), with(func(n *abi.NodeInput) {
			n.Taints = []abi.Taint{{Key: sDedicated, Value: sGPU, Effect: abi.EffectNoExecute}}
		}), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"prefer-no-schedule taint only scores", small, with(func(n *abi.NodeInput) {
			n.Taints = []abi.Taint{{Key: sDedicated, Value: sGPU, Effect: abi.EffectPreferNoSchedule}}
		}), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"unschedulable", small, with(func(n *abi.NodeInput) { n.Flags |= abi.NodeUnschedulable }), abi.NodeVerdict{Verdict: abi.Unresolvable, Reasons: abi.ReasonUnschedulable}},
		{"unschedulable tolerated by name", pod(func(p *abi.PodInput) {
			p.Tolerations = []abi.Toleration{{Key: sUnsched, Op: abi.TolerateExists, Effect: abi.EffectNoSchedule}}
		}), with(func(n *abi.NodeInput) { n.Flags |= abi.NodeUnschedulable }), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"not ready", small, with(func(n *abi.NodeInput) { n.Flags = 0 }), abi.NodeVerdict{Verdict: abi.Unresolvable, Reasons: abi.ReasonNotReady}},
		{"not ready tolerated by wildcard", pod(func(p *abi.PodInput) {
			p.Tolerations = []abi.Toleration{{Op: abi.TolerateExists}}
		}), with(func(n *abi.NodeInput) { n.Flags = 0 }), abi.NodeVerdict{Verdict: abi.Feasible}},
		{"hard and soft together", pod(func(p *abi.PodInput) { p.NodeSelector = []abi.Label{{Key: sZone, Value: sB}} }),
			with(func(n *abi.NodeInput) { n.ReqCPUMilli = 4000 }),
			abi.NodeVerdict{Verdict: abi.Unresolvable, Reasons: abi.ReasonNodeSelector | abi.ReasonInsufficientCPU}},
	}
	s := sdk.NewNativeScheduler(scheduler.Policy{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var res abi.Result
			if err := s.Schedule(context.Background(), input(c.pod, c.node), &res); err != nil {
				t.Fatal(err)
			}
			if res.Verdicts[0] != c.want {
				t.Errorf("verdict %+v, want %+v", res.Verdicts[0], c.want)
			}
		})
	}
}

// TestScore checks the score's directions: emptier nodes, nodes with fewer replicas of the owner
// and nodes with the pod's image score higher.
func TestScore(t *testing.T) {
	pod := abi.PodInput{CPUMilli: 500, MemoryBytes: 1 << 30, Owner: sOwner, Images: []uint32{sImage}}
	cases := []struct {
		name       string
		better     func(*abi.NodeInput)
		worse      func(*abi.NodeInput)
		wantHigher bool
	}{
		{"least allocated", func(n *abi.NodeInput) {}, func(n *abi.NodeInput) { n.ReqCPUMilli, n.ReqMemory = 2000, 4<<30 }, true},
		{"balanced", func(n *abi.NodeInput) { n.ReqCPUMilli, n.ReqMemory = 1000, 2<<30 }, func(n *abi.NodeInput) { n.ReqCPUMilli, n.ReqMemory = 3000, 0 }, true},
		{"spread", func(n *abi.NodeInput) { n.Matching = 1 }, func(n *abi.NodeInput) { n.Matching = 3 }, true},
		{"image", func(n *abi.NodeInput) { n.Images = []abi.Image{{ID: sImage, SizeMiB: 800}} }, func(n *abi.NodeInput) {}, true},
		{"prefer no schedule", func(n *abi.NodeInput) {}, func(n *abi.NodeInput) {
			n.Taints = []abi.Taint{{Key: sDedicated, Effect: abi.EffectPreferNoSchedule}}
		}, true},
	}
	s := sdk.NewNativeScheduler(scheduler.Policy{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := node(0), node(1)
			c.better(&a)
			c.worse(&b)
			var res abi.Result
			if err := s.Schedule(context.Background(), input(pod, a, b), &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Scores) != 2 {
				t.Fatalf("scores %v, feasible %v", res.Scores, res.Feasible)
			}
			if res.Scores[0] <= res.Scores[1] {
				t.Errorf("better node scored %d, worse %d", res.Scores[0], res.Scores[1])
			}
		})
	}
}

// genInput is a random decision over n nodes.
func genInput(r *rand.Rand, n int) *abi.Input {
	p := abi.PodInput{CPUMilli: int64(r.IntN(2000)), MemoryBytes: int64(r.IntN(4 << 30)), Owner: sOwner, Images: []uint32{sImage}}
	switch r.IntN(4) {
	case 0:
		p.NodeSelector = []abi.Label{{Key: sZone, Value: sA + uint32(r.IntN(2))}}
	case 1:
		p.Affinity = []abi.Term{{Exprs: []abi.Expr{{Key: sCores, Op: abi.OpGt, Values: []uint32{s4}}}}}
	case 2:
		p.Tolerations = []abi.Toleration{{Key: sDedicated, Value: sGPU, Op: abi.TolerateEqual}, {Key: sUnsched, Op: abi.TolerateExists}}
	}
	nodes := make([]abi.NodeInput, n)
	for i := range nodes {
		nd := node(i)
		nd.ReqCPUMilli = r.Int64N(nd.AllocCPUMilli + 1)
		nd.ReqMemory = r.Int64N(nd.AllocMemory + 1)
		nd.Pods = uint32(r.IntN(112))
		nd.Labels = []abi.Label{{Key: sZone, Value: sA + uint32(r.IntN(2))}, {Key: sCores, Value: s4 + uint32(r.IntN(2))}}
		if r.IntN(5) == 0 {
			nd.Taints = []abi.Taint{{Key: sDedicated, Value: sGPU, Effect: abi.TaintEffect(1 + r.IntN(3))}}
		}
		if r.IntN(10) == 0 {
			nd.Flags |= abi.NodeUnschedulable
		}
		if r.IntN(10) == 0 {
			nd.Flags &^= abi.NodeReady
		}
		nd.Images = []abi.Image{{ID: sImage, SizeMiB: uint32(r.IntN(1500))}}
		nd.Matching = uint32(r.IntN(4))
		nodes[i] = nd
	}
	return input(p, nodes...)
}

// TestWasmMatchesNative runs the built module and the native policy on random inputs: the same
// verdicts and scores, byte for byte.
func TestWasmMatchesNative(t *testing.T) {
	ctx := context.Background()
	h, err := runtime.New(ctx, runtime.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	m, err := h.Load(ctx, "default-scheduler", builtintest.Scheduler(t), runtime.ModuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hk := m.Hooks(); !hk.Filter || !hk.Score || hk.Reconcile {
		t.Fatalf("hooks %+v, want filter and score", hk)
	}
	native := sdk.NewNativeScheduler(scheduler.Policy{})
	r := rand.New(rand.NewPCG(4, 2))
	feasible := 0
	for i := range 200 {
		in := genInput(r, 1+r.IntN(60))
		var got, want abi.Result
		if err := m.Schedule(ctx, in, &got); err != nil {
			t.Fatalf("input %d: wasm: %v", i, err)
		}
		if err := native.Schedule(ctx, in, &want); err != nil {
			t.Fatalf("input %d: native: %v", i, err)
		}
		if !slices.Equal(got.Verdicts, want.Verdicts) || !slices.Equal(got.Feasible, want.Feasible) || !slices.Equal(got.Scores, want.Scores) {
			t.Fatalf("input %d: wasm %+v\nnative %+v", i, got, want)
		}
		feasible += len(got.Feasible)
	}
	if feasible == 0 {
		t.Fatal("no input had a feasible node: the comparison saw only rejections")
	}
}
