package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// kube-scheduler's sampling of nodes (pkg/scheduler/schedule_one.go numFeasibleNodesToFind).
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// NumFeasibleNodesToFind is how many feasible nodes a decision looks for before it stops
// filtering: all of them up to 100 nodes, then a share falling from 50% to 5% as the cluster
// grows (10% at 5,000 nodes), or percentage% when it is set.
func NumFeasibleNodesToFind(all, percentage int) int {
	if all < minFeasibleNodesToFind || percentage >= 100 {
		return all
	}
	if percentage <= 0 {
		percentage = 50 - all/125
		if percentage < minFeasibleNodesPercentageToFind {
			percentage = minFeasibleNodesPercentageToFind
		}
	}
	n := all * percentage / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// errNoNodes is kube-scheduler's ErrNoNodesAvailable.
var errNoNodes = errors.New("no nodes available to schedule pods")

// FitError says that no node can take a pod, and why, node by node, as kube-scheduler's.
type FitError struct {
	NumAllNodes int
	// Reasons counts the nodes rejected for each reason text.
	Reasons map[string]int
}

// Error is the message of the FailedScheduling event: "0/3 nodes are available: 1 node(s) had
// untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
func (e *FitError) Error() string {
	if e.NumAllNodes == 0 {
		return fmt.Sprintf("0/0 nodes are available: %v.", errNoNodes)
	}
	hist := make([]string, 0, len(e.Reasons))
	for text, n := range e.Reasons {
		hist = append(hist, fmt.Sprintf("%d %s", n, text))
	}
	sort.Strings(hist)
	msg := fmt.Sprintf("0/%d nodes are available", e.NumAllNodes)
	if len(hist) > 0 {
		msg += ": " + strings.Join(hist, ", ")
	}
	return msg + "."
}

// worker holds one worker's buffers, reused across decisions.
type worker struct {
	in      abi.Input
	res     abi.Result
	infos   []*nodeInfo
	cands   []candidate
	rejects []reject
	rng     *rand.Rand
	// capture keeps the nodes of the decision (all windows) in seen and their names in
	// seenNames, for shadow policies to decide on the same snapshot.
	capture   bool
	seen      []abi.NodeInput
	seenNames []string
}

type candidate struct {
	n     *nodeInfo
	score int32
}

type reject struct {
	n   *nodeInfo
	why abi.Reasons
}

// decide runs the policy over the nodes for pod and returns the feasible nodes with their scores
// in w.cands, a *FitError when there are none, or the policy's error.
func (s *Scheduler) decide(ctx context.Context, w *worker, pol served, pod *podInput) error {
	w.cands, w.rejects = w.cands[:0], w.rejects[:0]
	w.seen, w.seenNames = w.seen[:0], w.seenNames[:0]
	s.snap.mu.RLock()
	total := len(s.snap.list)
	s.snap.mu.RUnlock()
	if total == 0 {
		return &FitError{}
	}
	want := NumFeasibleNodesToFind(total, s.cfg.PercentageOfNodesToScore)
	start := int(s.next.Load() % uint64(total))
	w.in.Pod = pod.PodInput
	w.in.Strings = nil
	if pod.needStrings {
		w.in.Strings = s.strs.Table()
	}
	visited := 0
	for visited < total && len(w.cands) < want {
		chunk := want
		if visited > 0 {
			chunk = total - visited
		}
		if cap(w.in.Nodes) < chunk {
			w.in.Nodes = make([]abi.NodeInput, chunk)
			w.infos = make([]*nodeInfo, chunk)
		}
		w.in.Nodes, w.infos = w.in.Nodes[:chunk], w.infos[:chunk]
		s.snap.mu.RLock()
		cur := len(s.snap.list)
		if cur == 0 {
			s.snap.mu.RUnlock()
			break
		}
		for i := range chunk {
			n := s.snap.list[(start+visited+i)%cur]
			w.infos[i] = n
			w.in.Nodes[i] = n.rec
			w.in.Nodes[i].Matching = 0
			if pod.Owner != 0 {
				w.in.Nodes[i].Matching = n.owners[pod.Owner]
			}
			if w.capture {
				w.seenNames = append(w.seenNames, n.name)
			}
		}
		s.snap.mu.RUnlock()
		if w.capture {
			w.seen = append(w.seen, w.in.Nodes...)
		}
		if err := pol.policy.Schedule(ctx, &w.in, &w.res); err != nil {
			return err
		}
		for i, v := range w.res.Verdicts {
			if v.Verdict != abi.Feasible {
				w.rejects = append(w.rejects, reject{w.infos[i], v.Reasons})
			}
		}
		for j, i := range w.res.Feasible {
			w.cands = append(w.cands, candidate{w.infos[i], w.res.Scores[j]})
		}
		visited += chunk
	}
	s.next.Add(uint64(visited))
	if len(w.cands) == 0 {
		return s.fitError(total, w.rejects, pod, pol.reasons)
	}
	return nil
}

// best removes and returns the highest-scored candidate, choosing at random among equals as
// kube-scheduler's selectHost does.
func (w *worker) best() *nodeInfo {
	b, seen := 0, 1
	for i := 1; i < len(w.cands); i++ {
		switch c := w.cands[i].score; {
		case c > w.cands[b].score:
			b, seen = i, 1
		case c == w.cands[b].score:
			seen++
			if w.rng.IntN(seen) == 0 {
				b = i
			}
		}
	}
	n := w.cands[b].n
	w.cands[b] = w.cands[len(w.cands)-1]
	w.cands = w.cands[:len(w.cands)-1]
	return n
}

// Reason bits in the order kube-scheduler runs the filters that report them: a node is counted
// under the first filter that rejects it (all of NodeResourcesFit's reasons, and all module
// reasons, count).
var hardOrder = []abi.Reasons{abi.ReasonUnschedulable, abi.ReasonNodeName, abi.ReasonNotReady, abi.ReasonUntoleratedTaint, abi.ReasonNodeSelector}

func (s *Scheduler) fitError(total int, rejects []reject, pod *podInput, reasons map[int]string) *FitError {
	e := &FitError{NumAllNodes: total, Reasons: map[string]int{}}
	s.snap.mu.RLock()
	defer s.snap.mu.RUnlock()
	seen := make(map[*nodeInfo]bool, len(rejects))
	for _, r := range rejects {
		if seen[r.n] {
			continue // the node list shrank between chunks and wrapped
		}
		seen[r.n] = true
		hard := false
		for _, bit := range hardOrder {
			if r.why&bit == 0 {
				continue
			}
			text := abi.ReasonText(bits.TrailingZeros32(uint32(bit)))
			if bit == abi.ReasonUntoleratedTaint {
				if t := untoleratedTaint(&r.n.rec, pod.Tolerations, s.strs); t != "" {
					text += " " + t
				}
			}
			e.Reasons[text]++
			hard = true
			break
		}
		if hard {
			continue
		}
		if r.why == 0 {
			e.Reasons["node(s) were rejected by the scheduling policy"]++
		}
		for why := uint32(r.why); why != 0; why &= why - 1 {
			bit := bits.TrailingZeros32(why)
			e.Reasons[reasonText(bit, reasons)]++
		}
	}
	return e
}

func reasonText(bit int, reasons map[int]string) string {
	if t := abi.ReasonText(bit); t != "" {
		return t
	}
	if t := reasons[bit]; t != "" {
		return t
	}
	return fmt.Sprintf("node(s) rejected by the policy (reason %d)", bit)
}
