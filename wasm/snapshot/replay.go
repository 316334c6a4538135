package snapshot

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/control/scheduler/records"
	"github.com/skiff-sh/skiff/wasm/abi"
)

// Policy decides one pod against all its candidate nodes, as control/scheduler.Policy: a loaded
// wasm module (wasm/runtime.Module) and a native policy (wasm/sdk.NativeScheduler) both are.
type Policy interface {
	Schedule(ctx context.Context, in *abi.Input, out *abi.Result) error
}

// Decision is one policy's answer for one pod.
type Decision struct {
	// Node is the node the pod goes to: the first best-scored node in snapshot order; "" when
	// no node is feasible or the policy failed.
	Node string `json:"node,omitempty"`
	// Best are all the nodes with the top score: the scheduler picks among them at random.
	Best  []string `json:"best,omitempty"`
	Score int32    `json:"score,omitempty"`
	// Feasible is the number of nodes the filter passed.
	Feasible int `json:"feasible"`
	// Err is the policy's failure (trap, timeout, bad output), if any.
	Err string `json:"error,omitempty"`
	// Verdicts and Scores are the raw result, per node in snapshot order (Scores 0 for nodes
	// that did not pass the filter).
	Verdicts []abi.NodeVerdict `json:"-"`
	Scores   []int32           `json:"-"`
}

// Outcome compares the two decisions for one pending pod.
type Outcome struct {
	Pod       string   `json:"pod"`
	Module    Decision `json:"module"`
	Reference Decision `json:"reference"`
	// Agree is whether the decisions match under the replay's Options.
	Agree bool `json:"agree"`
	// Why says how they differ when they do not agree.
	Why string `json:"why,omitempty"`
}

// Options tune a replay.
type Options struct {
	// Exact requires identical verdicts, reasons and scores on every node, as running the same
	// policy source natively and in wasm must give. Otherwise two decisions agree when they
	// choose from the same set of best-scored nodes (or both find no node).
	Exact bool
}

// Replay decides every pending pod of s, in order, with module and with reference, over all
// nodes. After each pod, the module's choice is committed to the replayed state (its requests
// and owner count added to the node), so later pods see the cluster as the module would have
// left it, and both policies decide each pod from the same state. A policy error fails only
// that pod's decision; Replay fails only when ctx ends.
func Replay(ctx context.Context, s *Snapshot, module, reference Policy, o Options) ([]Outcome, error) {
	st := NewState(s.Nodes, s.Bound)
	out := make([]Outcome, 0, len(s.Pending))
	for i := range s.Pending {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		pod := &s.Pending[i]
		in := st.Input(pod)
		oc := Outcome{Pod: podKey(pod)}
		oc.Module = decide(ctx, module, in, s.Nodes)
		oc.Reference = decide(ctx, reference, in, s.Nodes)
		oc.Agree, oc.Why = compare(&oc.Module, &oc.Reference, s.Nodes, o)
		out = append(out, oc)
		st.Place(oc.Module.Node, in)
	}
	return out, nil
}

// State is a cluster replayed pod by pod, as the scheduler sees it: every node's record with
// the requests, pods and owners placed on it. Replay and the dashboard's playground (which
// runs this package in the browser) decide from it.
type State struct {
	recs  *records.Records
	nodes []abi.NodeInput
	index map[string]int
	// ownerCount[i][owner] is the pods of owner on node i.
	ownerCount []map[uint32]uint32
}

// NewState is nodes with the bound pods placed on them (pods bound to a node that is not
// there hold no room on a candidate).
func NewState(nodes []corev1.Node, bound []corev1.Pod) *State {
	st := &State{recs: records.NewRecords(), nodes: make([]abi.NodeInput, len(nodes)), index: make(map[string]int, len(nodes)),
		ownerCount: make([]map[uint32]uint32, len(nodes))}
	for i := range nodes {
		st.nodes[i] = st.recs.Node(&nodes[i])
		st.index[nodes[i].Name] = i
		st.ownerCount[i] = map[uint32]uint32{}
	}
	for i := range bound {
		p := &bound[i]
		if n, ok := st.index[p.Spec.NodeName]; ok {
			cpu, mem := records.PodRequests(&p.Spec)
			st.place(n, cpu, mem, st.recs.Owner(&p.ObjectMeta))
		}
	}
	return st
}

func (st *State) place(i int, cpu, mem int64, owner uint32) {
	st.nodes[i].ReqCPUMilli += cpu
	st.nodes[i].ReqMemory += mem
	st.nodes[i].Pods++
	if owner != 0 {
		st.ownerCount[i][owner]++
	}
}

// Input is the policy's input for pod over every node, in node order.
func (st *State) Input(pod *corev1.Pod) *abi.Input {
	in := &abi.Input{Pod: st.recs.Pod(pod)}
	in.Nodes = slices.Clone(st.nodes)
	for j := range in.Nodes {
		in.Nodes[j].Matching = 0
		if in.Pod.Owner != 0 {
			in.Nodes[j].Matching = st.ownerCount[j][in.Pod.Owner]
		}
	}
	in.Strings = st.recs.Strings()
	return in
}

// Place commits the pod of in to the named node ("" or an unknown node: nothing).
func (st *State) Place(node string, in *abi.Input) {
	if i, ok := st.index[node]; ok && node != "" {
		st.place(i, in.Pod.CPUMilli, in.Pod.MemoryBytes, in.Pod.Owner)
	}
}

// decide runs p over in and summarises its result.
func decide(ctx context.Context, p Policy, in *abi.Input, nodes []corev1.Node) Decision {
	var res abi.Result
	if err := p.Schedule(ctx, in, &res); err != nil {
		return Decision{Err: err.Error()}
	}
	d := Decision{Feasible: len(res.Feasible), Verdicts: slices.Clone(res.Verdicts), Scores: make([]int32, len(in.Nodes))}
	for j, n := range res.Feasible {
		d.Scores[n] = res.Scores[j]
	}
	// res.Feasible is ascending, so Best is in snapshot order.
	for j, n := range res.Feasible {
		switch sc := res.Scores[j]; {
		case len(d.Best) == 0 || sc > d.Score:
			d.Best, d.Score = []string{nodes[n].Name}, sc
		case sc == d.Score:
			d.Best = append(d.Best, nodes[n].Name)
		}
	}
	if len(d.Best) > 0 {
		d.Node = d.Best[0]
	}
	return d
}

func compare(m, r *Decision, nodes []corev1.Node, o Options) (bool, string) {
	switch {
	case m.Err != "" || r.Err != "":
		return false, "a policy failed"
	case o.Exact:
		for j := range m.Verdicts {
			if m.Verdicts[j] != r.Verdicts[j] {
				return false, fmt.Sprintf("node %s: verdict %d reasons %#x vs %d reasons %#x", nodes[j].Name,
					m.Verdicts[j].Verdict, uint32(m.Verdicts[j].Reasons), r.Verdicts[j].Verdict, uint32(r.Verdicts[j].Reasons))
			}
			if m.Scores[j] != r.Scores[j] {
				return false, fmt.Sprintf("node %s: score %d vs %d", nodes[j].Name, m.Scores[j], r.Scores[j])
			}
		}
		return true, ""
	case len(m.Best) == 0 && len(r.Best) == 0:
		return true, ""
	case len(m.Best) == 0 || len(r.Best) == 0:
		return false, fmt.Sprintf("feasible nodes %d vs %d", m.Feasible, r.Feasible)
	case !slices.Equal(m.Best, r.Best):
		return false, "different best nodes"
	}
	return true, ""
}
