package abi_test

import (
	"errors"
	"testing"

	"github.com/skiff-sh/skiff/wasm/abi"
)

func sampleInput() *abi.Input {
	return &abi.Input{
		Pod: abi.PodInput{CPUMilli: 250, MemoryBytes: 1 << 30, NodeName: 3, Owner: 9, Priority: -7,
			NodeSelector: []abi.Label{{Key: 4, Value: 5}},
			Tolerations:  []abi.Toleration{{Key: 6, Value: 7, Op: abi.TolerateEqual, Effect: abi.EffectNoExecute}, {Op: abi.TolerateExists}},
			Affinity: []abi.Term{
				{Exprs: []abi.Expr{{Key: 4, Op: abi.OpIn, Values: []uint32{5, 8}}, {Key: 6, Op: abi.OpDoesNotExist}}},
				{Exprs: []abi.Expr{{Key: 4, Op: abi.OpGt, Values: []uint32{10}}}},
			},
			Images: []uint32{11, 12}},
		Nodes: []abi.NodeInput{
			{AllocCPUMilli: 4000, AllocMemory: 8 << 30, ReqCPUMilli: 100, ReqMemory: 1 << 20, AllocPods: 110, Pods: 4, Name: 1,
				Flags: abi.NodeReady, Labels: []abi.Label{{Key: 4, Value: 5}, {Key: 6, Value: 7}}, Matching: 2,
				Taints: []abi.Taint{{Key: 6, Value: 7, Effect: abi.EffectNoSchedule}}, Images: []abi.Image{{ID: 11, SizeMiB: 300}}},
			{AllocCPUMilli: -1, AllocMemory: 1, Name: 2, Flags: abi.NodeUnschedulable},
			{Name: 3},
		},
		Strings: []string{"", "n1", "n2", "n3", "zone", "a", "dedicated", "gpu", "b", "owner", "42", "img:1", "img:2"},
	}
}

// TestRoundTrip encodes an input and reads every field back through the views.
func TestRoundTrip(t *testing.T) {
	in := sampleInput()
	buf := make([]byte, abi.ScheduleSize(in))
	l, err := abi.EncodeSchedule(buf, in)
	if err != nil {
		t.Fatal(err)
	}
	req, err := abi.ParseSchedule(buf)
	if err != nil {
		t.Fatal(err)
	}
	p := req.Pod()
	if p.CPUMilli() != 250 || p.MemoryBytes() != 1<<30 || p.NodeName() != 3 || p.Owner() != 9 || p.Priority() != -7 {
		t.Errorf("pod scalars: %d %d %d %d %d", p.CPUMilli(), p.MemoryBytes(), p.NodeName(), p.Owner(), p.Priority())
	}
	if s := p.NodeSelector(); s.Len() != 1 || s.At(0) != (abi.Label{Key: 4, Value: 5}) {
		t.Errorf("selector: %d %+v", s.Len(), s.At(0))
	}
	if tl := p.Tolerations(); tl.Len() != 2 || tl.At(0) != in.Pod.Tolerations[0] || tl.At(1) != in.Pod.Tolerations[1] {
		t.Errorf("tolerations: %+v %+v", tl.At(0), tl.At(1))
	}
	aff := p.Affinity()
	if aff.Len() != 2 || aff.At(0).Len() != 2 || aff.At(1).Len() != 1 {
		t.Fatalf("affinity shape: %d terms", aff.Len())
	}
	if e := aff.At(0); e.Key(0) != 4 || e.Op(0) != abi.OpIn || e.Values(0).Len() != 2 || e.Values(0).At(1) != 8 || e.Op(1) != abi.OpDoesNotExist || e.Values(1).Len() != 0 {
		t.Errorf("affinity term 0 decoded wrong")
	}
	if e := aff.At(1); e.Op(0) != abi.OpGt || e.Values(0).At(0) != 10 {
		t.Errorf("affinity term 1 decoded wrong")
	}
	if im := p.Images(); im.Len() != 2 || !im.Contains(12) || im.Contains(13) {
		t.Errorf("pod images wrong")
	}
	nodes := req.Nodes()
	if nodes.Len() != 3 {
		t.Fatalf("%d nodes", nodes.Len())
	}
	n := nodes.At(0)
	if n.AllocCPUMilli() != 4000 || n.AllocMemory() != 8<<30 || n.ReqCPUMilli() != 100 || n.ReqMemory() != 1<<20 ||
		n.AllocPods() != 110 || n.Pods() != 4 || n.Name() != 1 || n.Flags() != abi.NodeReady || n.Matching() != 2 {
		t.Errorf("node 0 scalars wrong")
	}
	if v, ok := n.Labels().Get(6); !ok || v != 7 {
		t.Errorf("node 0 label 6 = %d, %v", v, ok)
	}
	if _, ok := n.Labels().Get(99); ok {
		t.Errorf("node 0 has label 99")
	}
	if n.Taints().At(0) != in.Nodes[0].Taints[0] || n.Images().At(0) != in.Nodes[0].Images[0] {
		t.Errorf("node 0 taints or images wrong")
	}
	if n1 := nodes.At(1); n1.AllocCPUMilli() != -1 || n1.Labels().Len() != 0 || n1.Flags() != abi.NodeUnschedulable {
		t.Errorf("node 1 wrong")
	}
	if s := req.Strings(); s.Len() != len(in.Strings) || string(s.Get(10)) != "42" || s.Get(99) != nil {
		t.Errorf("strings wrong")
	}

	var res abi.Result
	res.Reset(3)
	out := req.Verdicts()
	out.Set(0, abi.Feasible, 0)
	out.Set(1, abi.Unresolvable, abi.ReasonUnschedulable|abi.ReasonModuleFirst)
	out.Set(2, abi.Feasible, 0)
	if err := abi.ReadVerdicts(buf, l, &res); err != nil {
		t.Fatal(err)
	}
	if res.Verdicts[1] != (abi.NodeVerdict{Verdict: abi.Unresolvable, Reasons: abi.ReasonUnschedulable | abi.ReasonModuleFirst}) ||
		len(res.Feasible) != 2 || res.Feasible[1] != 2 {
		t.Errorf("verdicts read back as %+v, feasible %v", res.Verdicts, res.Feasible)
	}
	if err := abi.WriteCandidates(buf, l, res.Feasible); err != nil {
		t.Fatal(err)
	}
	cands := req.Candidates()
	if cands.Len() != 2 || cands.Index(1) != 2 || cands.At(1).Name() != 3 {
		t.Errorf("candidates: len %d", cands.Len())
	}
	req.Scores().Set(0, 100)
	req.Scores().Set(1, 0)
	scores, err := abi.ReadScores(buf, l, 2, nil)
	if err != nil || len(scores) != 2 || scores[0] != 100 {
		t.Errorf("scores %v, %v", scores, err)
	}
}

func TestOutputValidation(t *testing.T) {
	in := sampleInput()
	buf := make([]byte, abi.ScheduleSize(in))
	l, _ := abi.EncodeSchedule(buf, in)
	req, _ := abi.ParseSchedule(buf)
	var res abi.Result
	res.Reset(3)
	if err := abi.ReadVerdicts(buf, l, &res); !errors.Is(err, abi.ErrBadVerdict) {
		t.Errorf("unwritten verdicts: %v, want ErrBadVerdict", err)
	}
	for i := range 3 {
		req.Verdicts().Set(i, abi.Feasible, 0)
	}
	req.Verdicts().Set(2, abi.Verdict(4), 0)
	if err := abi.ReadVerdicts(buf, l, &res); !errors.Is(err, abi.ErrBadVerdict) {
		t.Errorf("verdict 4: %v, want ErrBadVerdict", err)
	}
	abi.WriteCandidates(buf, l, []uint32{0, 1})
	for _, bad := range []int32{-1, 101} {
		req.Scores().Set(1, bad)
		if _, err := abi.ReadScores(buf, l, 2, nil); !errors.Is(err, abi.ErrBadScore) {
			t.Errorf("score %d: %v, want ErrBadScore", bad, err)
		}
	}
	if err := abi.WriteCandidates(buf, l, []uint32{7}); err == nil {
		t.Error("candidate 7 of 3 accepted")
	}
	if _, err := abi.EncodeSchedule(buf[:len(buf)-8], in); !errors.Is(err, abi.ErrShortArena) {
		t.Errorf("short arena: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Verdicts.Set out of range did not panic")
		}
	}()
	req.Verdicts().Set(3, abi.Feasible, 0)
}

func TestJSONCall(t *testing.T) {
	buf := make([]byte, 256)
	l, err := abi.EncodeJSON(buf, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	call, err := abi.ParseJSON(buf)
	if err != nil || string(call.In()) != `{"a":1}` {
		t.Fatalf("ParseJSON: %q, %v", call.In(), err)
	}
	if st := call.WriteOut(make([]byte, 1000)); st != abi.StatusOutputTooLarge || abi.JSONOutLen(buf) != 1000 {
		t.Errorf("oversized output: status %d, outLen %d", st, abi.JSONOutLen(buf))
	}
	if _, err := abi.ReadJSON(buf, l); !errors.Is(err, abi.ErrBadOutput) {
		t.Errorf("ReadJSON with outLen past capacity: %v", err)
	}
	call.WriteOut([]byte(`{"ok":true}`))
	if out, err := abi.ReadJSON(buf, l); err != nil || string(out) != `{"ok":true}` {
		t.Errorf("ReadJSON = %q, %v", out, err)
	}
}

// FuzzParse: the parsers and output readers the host runs on guest-written memory never panic.
func FuzzParse(f *testing.F) {
	in := sampleInput()
	buf := make([]byte, abi.ScheduleSize(in))
	abi.EncodeSchedule(buf, in)
	f.Add(buf)
	jbuf := make([]byte, 128)
	abi.EncodeJSON(jbuf, []byte(`{}`))
	f.Add(jbuf)
	f.Fuzz(func(t *testing.T, b []byte) {
		abi.ParseSchedule(b)
		abi.ParseJSON(b)
		l := abi.Layout{Size: uint32(len(b)), Nodes: 3, VerdictsOff: 64, CandOff: 96, ScoresOff: 112}
		if len(b) >= 128 {
			var res abi.Result
			res.Reset(3)
			abi.ReadVerdicts(b, l, &res)
			abi.ReadScores(b, l, 3, nil)
			abi.ReadJSON(b, abi.JSONLayout{OutOff: 64, OutCap: uint32(len(b)) - 64})
		}
	})
}
