package playground

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/snapshot"
)

// Scenario is a wasm/snapshot.Snapshot document (the same JSON): nodes in
// the order they are offered, pods bound to them, pending pods in the order
// they are decided.
type Scenario struct {
	Version    int           `json:"version"`
	RecordedAt time.Time     `json:"recordedAt,omitzero"`
	Source     string        `json:"source,omitempty"`
	Nodes      []corev1.Node `json:"nodes"`
	Bound      []corev1.Pod  `json:"bound,omitempty"`
	Pending    []corev1.Pod  `json:"pending,omitempty"`
}

// Version is the snapshot format version a Scenario must carry.
const Version = 1

// DecodeScenario reads a scenario and checks what a replay needs: the
// version, at least one node, unique node names, and no pending pod that
// already has a node.
func DecodeScenario(r io.Reader) (*Scenario, error) {
	var s Scenario
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return nil, fmt.Errorf("playground: decode scenario: %w", err)
	}
	var errs []error
	if s.Version != Version {
		errs = append(errs, fmt.Errorf("playground: scenario version %d, want %d", s.Version, Version))
	}
	if len(s.Nodes) == 0 {
		errs = append(errs, errors.New("playground: scenario has no nodes"))
	}
	seen := map[string]bool{}
	for i, n := range s.Nodes {
		switch {
		case n.Name == "":
			errs = append(errs, fmt.Errorf("playground: nodes[%d] has no name", i))
		case seen[n.Name]:
			errs = append(errs, fmt.Errorf("playground: node %q appears twice", n.Name))
		}
		seen[n.Name] = true
	}
	for i, p := range s.Pending {
		if p.Spec.NodeName != "" {
			errs = append(errs, fmt.Errorf("playground: pending[%d] (%s) already has spec.nodeName %q", i, PodKey(&p), p.Spec.NodeName))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &s, nil
}

// Policy decides one pod against all its nodes (wasm/snapshot.Policy).
type Policy interface {
	Schedule(ctx context.Context, in *abi.Input, out *abi.Result) error
}

// Verdict is one node's filter answer.
type Verdict struct {
	Verdict abi.Verdict `json:"verdict"`
	Reasons abi.Reasons `json:"reasons"`
}

// Decision is the module's answer for one pending pod, with the raw per
// node matrix: Verdicts and Scores are in the scenario's node order (Scores
// 0 for nodes the filter rejected).
type Decision struct {
	Pod string `json:"pod"`
	// Node is the first best-scored node in node order; "" when no node is
	// feasible or the module failed.
	Node string `json:"node,omitempty"`
	// Best are all the nodes with the top score.
	Best     []string  `json:"best,omitempty"`
	Score    int32     `json:"score"`
	Feasible int       `json:"feasible"`
	Error    string    `json:"error,omitempty"`
	Verdicts []Verdict `json:"verdicts,omitempty"`
	Scores   []int32   `json:"scores,omitempty"`
}

// Result is a replay's answer.
type Result struct {
	Nodes     []string   `json:"nodes"`
	Decisions []Decision `json:"decisions"`
}

// Replay decides every pending pod of s with p, in order, over all nodes,
// committing each choice (requests, pod count, owner count) to its node
// before the next pod, as wasm/snapshot.Replay does. A policy error fails
// only that pod's decision; Replay fails only when ctx ends.
func Replay(ctx context.Context, s *Scenario, p Policy) (*Result, error) {
	st := snapshot.NewState(s.Nodes, s.Bound)
	res := &Result{Nodes: make([]string, len(s.Nodes)), Decisions: make([]Decision, 0, len(s.Pending))}
	for i := range s.Nodes {
		res.Nodes[i] = s.Nodes[i].Name
	}
	var out abi.Result
	for i := range s.Pending {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		pod := &s.Pending[i]
		in := st.Input(pod)
		d := decide(ctx, p, in, &out, res.Nodes)
		d.Pod = PodKey(pod)
		res.Decisions = append(res.Decisions, d)
		st.Place(d.Node, in)
	}
	return res, nil
}

func decide(ctx context.Context, p Policy, in *abi.Input, res *abi.Result, names []string) Decision {
	if err := p.Schedule(ctx, in, res); err != nil {
		return Decision{Error: err.Error()}
	}
	d := Decision{Feasible: len(res.Feasible), Verdicts: make([]Verdict, len(res.Verdicts)), Scores: make([]int32, len(in.Nodes))}
	for j, v := range res.Verdicts {
		d.Verdicts[j] = Verdict(v)
	}
	for j, n := range res.Feasible {
		d.Scores[n] = res.Scores[j]
	}
	for j, n := range res.Feasible {
		switch sc := res.Scores[j]; {
		case len(d.Best) == 0 || sc > d.Score:
			d.Best, d.Score = []string{names[n]}, sc
		case sc == d.Score:
			d.Best = append(d.Best, names[n])
		}
	}
	if len(d.Best) > 0 {
		d.Node = d.Best[0]
	}
	return d
}

// PodKey is "namespace/name" ("name" without a namespace).
func PodKey(p *corev1.Pod) string {
	if p.Namespace == "" {
		return p.Name
	}
	return p.Namespace + "/" + p.Name
}
