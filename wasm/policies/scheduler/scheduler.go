// Package scheduler is Skiff's default scheduling policy, the built-in module the scheduler host
// (control/scheduler) runs: a port of kube-scheduler's default filters and scores to the batched
// records of ABI v1 (../../ABI.md). It is a pure function of its input: the host computes each
// node's requested resources, pod count and the number of pods it runs with the pod's owner.
//
// Filters, in kube-scheduler's order and with its verdicts:
//   - NodeUnschedulable: spec.unschedulable, unless the pod tolerates the
//     node.kubernetes.io/unschedulable:NoSchedule taint (unresolvable);
//   - NodeName: spec.nodeName names another node (unresolvable);
//   - node Ready: the Ready condition is not True, unless the pod tolerates
//     node.kubernetes.io/not-ready:NoSchedule (unresolvable);
//   - TaintToleration: a NoSchedule or NoExecute taint the pod does not tolerate (unresolvable);
//   - NodeAffinity: spec.nodeSelector and required node affinity (unresolvable);
//   - NodeResourcesFit: pod count, cpu and memory against allocatable minus what bound pods
//     request (unschedulable: preempting pods could make room).
//
// Scores (0-100, a weighted mean as kube-scheduler sums its weighted plugins):
// LeastAllocated ×1 and BalancedAllocation ×1 over cpu and memory, spreading the replicas of one
// owner ×2 (fewer on the node is better, normalised over the candidates), untolerated
// PreferNoSchedule taints ×3 (normalised as TaintToleration's score), ImageLocality ×1.
//
// The package compiles natively (sdk.NewNativeScheduler) and for wasip1 (./module); the hot paths
// allocate nothing.
package scheduler

import "github.com/skiff-sh/skiff/wasm/abi"

// Well-known taint keys a pod may tolerate to pass the unschedulable and readiness filters.
const (
	TaintUnschedulable = "node.kubernetes.io/unschedulable"
	TaintNotReady      = "node.kubernetes.io/not-ready"
)

// Default requests kube-scheduler assumes, for scoring only, of a pod that requests nothing
// (pkg/scheduler/util.DefaultMilliCPURequest, DefaultMemoryRequest).
const (
	defaultMilliCPU = 100
	defaultMemory   = 200 << 20
)

// Score weights, as kube-scheduler's default profile weighs its plugins.
const (
	wLeast    = 1
	wBalanced = 1
	wSpread   = 2
	wTaint    = 3
	wImage    = 1
	wTotal    = wLeast + wBalanced + wSpread + wTaint + wImage
)

// ImageLocality's thresholds (pkg/scheduler/framework/plugins/imagelocality), in MiB per
// container image.
const (
	imageMinMiB = 23
	imageMaxMiB = 1000
)

// Policy is the default scheduler; the zero value is ready to use.
type Policy struct{}

// Filter implements sdk.Scheduler.
func (Policy) Filter(pod abi.Pod, nodes abi.Nodes, out abi.Verdicts) {
	cpu, mem := pod.CPUMilli(), pod.MemoryBytes()
	name := pod.NodeName()
	sel := pod.NodeSelector()
	aff := pod.Affinity()
	tols := pod.Tolerations()
	strs := pod.Strings()
	// Whether the pod tolerates the well-known taints is the same for every node.
	tolUnsched := toleratesNamed(tols, strs, TaintUnschedulable)
	tolNotReady := toleratesNamed(tols, strs, TaintNotReady)
	for i := 0; i < nodes.Len(); i++ {
		n := nodes.At(i)
		var hard abi.Reasons
		flags := n.Flags()
		if flags&abi.NodeUnschedulable != 0 && !tolUnsched {
			hard |= abi.ReasonUnschedulable
		}
		if name != 0 && n.Name() != name {
			hard |= abi.ReasonNodeName
		}
		if flags&abi.NodeReady == 0 && !tolNotReady {
			hard |= abi.ReasonNotReady
		}
		if untolerated(n.Taints(), tols) {
			hard |= abi.ReasonUntoleratedTaint
		}
		labels := n.Labels()
		if !matchSelector(sel, labels) || !matchAffinity(aff, labels, strs) {
			hard |= abi.ReasonNodeSelector
		}
		var soft abi.Reasons
		if n.Pods()+1 > n.AllocPods() {
			soft |= abi.ReasonTooManyPods
		}
		if cpu > 0 && cpu > n.AllocCPUMilli()-n.ReqCPUMilli() {
			soft |= abi.ReasonInsufficientCPU
		}
		if mem > 0 && mem > n.AllocMemory()-n.ReqMemory() {
			soft |= abi.ReasonInsufficientMemory
		}
		switch {
		case hard != 0:
			out.Set(i, abi.Unresolvable, hard|soft)
		case soft != 0:
			out.Set(i, abi.Unschedulable, soft)
		default:
			out.Set(i, abi.Feasible, 0)
		}
	}
}

// Score implements sdk.Scheduler.
func (Policy) Score(pod abi.Pod, nodes abi.Nodes, out abi.Scores) {
	cpu, mem := pod.CPUMilli(), pod.MemoryBytes()
	if cpu == 0 {
		cpu = defaultMilliCPU
	}
	if mem == 0 {
		mem = defaultMemory
	}
	tols := pod.Tolerations()
	images := pod.Images()
	// Normalisers over the candidates: the most replicas of the owner on one node, the most
	// untolerated PreferNoSchedule taints on one node.
	var maxMatch, maxTaints int64
	owned := pod.Owner() != 0
	for i := 0; i < nodes.Len(); i++ {
		n := nodes.At(i)
		if owned {
			maxMatch = max(maxMatch, int64(n.Matching()))
		}
		maxTaints = max(maxTaints, int64(preferNoSchedule(n.Taints(), tols)))
	}
	for i := 0; i < nodes.Len(); i++ {
		n := nodes.At(i)
		cpuFrac := fraction(n.ReqCPUMilli()+cpu, n.AllocCPUMilli())
		memFrac := fraction(n.ReqMemory()+mem, n.AllocMemory())
		least := (2000 - cpuFrac - memFrac) * abi.MaxScore / 2000
		diff := cpuFrac - memFrac
		if diff < 0 {
			diff = -diff
		}
		balanced := (1000 - diff/2) * abi.MaxScore / 1000
		spread := int64(abi.MaxScore)
		if maxMatch > 0 {
			spread = (maxMatch - int64(n.Matching())) * abi.MaxScore / maxMatch
		}
		taint := int64(abi.MaxScore)
		if maxTaints > 0 {
			taint = (maxTaints - int64(preferNoSchedule(n.Taints(), tols))) * abi.MaxScore / maxTaints
		}
		image := imageScore(images, n.Images())
		s := (wLeast*least + wBalanced*balanced + wSpread*spread + wTaint*taint + wImage*image) / wTotal
		out.Set(i, int32(min(max(s, 0), abi.MaxScore)))
	}
}

// fraction is req/alloc in thousandths, capped at 1000 (a node with nothing allocatable is full).
func fraction(req, alloc int64) int64 {
	if alloc <= 0 || req >= alloc {
		return 1000
	}
	if req <= 0 {
		return 0
	}
	return req * 1000 / alloc
}

// imageScore is ImageLocality without its spread factor: the size of the pod's images already on
// the node, scaled between the thresholds.
func imageScore(want abi.IDs, have abi.Images) int64 {
	if want.Len() == 0 || have.Len() == 0 {
		return 0
	}
	var sum int64
	for i := 0; i < have.Len(); i++ {
		im := have.At(i)
		if want.Contains(im.ID) {
			sum += int64(im.SizeMiB)
		}
	}
	lo, hi := int64(imageMinMiB*want.Len()), int64(imageMaxMiB*want.Len())
	switch {
	case sum <= lo:
		return 0
	case sum >= hi:
		return abi.MaxScore
	}
	return (sum - lo) * abi.MaxScore / (hi - lo)
}

// untolerated reports whether a NoSchedule or NoExecute taint is not tolerated.
func untolerated(taints abi.Taints, tols abi.Tolerations) bool {
	for j := 0; j < taints.Len(); j++ {
		t := taints.At(j)
		if t.Effect != abi.EffectPreferNoSchedule && !tols.ToleratesAll(t) {
			return true
		}
	}
	return false
}

// preferNoSchedule counts the PreferNoSchedule taints not tolerated.
func preferNoSchedule(taints abi.Taints, tols abi.Tolerations) int {
	n := 0
	for j := 0; j < taints.Len(); j++ {
		t := taints.At(j)
		if t.Effect == abi.EffectPreferNoSchedule && !tols.ToleratesAll(t) {
			n++
		}
	}
	return n
}

// toleratesNamed reports whether some toleration matches the NoSchedule taint key (with an empty
// value), as kube-scheduler's NodeUnschedulable checks for its taint. A toleration of every key
// matches without the string table; one naming the key needs it.
func toleratesNamed(tols abi.Tolerations, strs abi.Strings, key string) bool {
	for i := 0; i < tols.Len(); i++ {
		t := tols.At(i)
		if t.Effect != 0 && t.Effect != abi.EffectNoSchedule {
			continue
		}
		if t.Key == 0 {
			if t.Op == abi.TolerateExists {
				return true
			}
			continue
		}
		if string(strs.Get(t.Key)) != key {
			continue
		}
		if t.Op == abi.TolerateExists || t.Value == 0 {
			return true
		}
	}
	return false
}

// matchSelector reports whether every nodeSelector pair is among the labels.
func matchSelector(sel, labels abi.Labels) bool {
	for j := 0; j < sel.Len(); j++ {
		want := sel.At(j)
		if v, ok := labels.Get(want.Key); !ok || v != want.Value {
			return false
		}
	}
	return true
}

// matchAffinity reports whether the labels match one of the required terms (or there are none).
// A term without requirements matches nothing, as in Kubernetes.
func matchAffinity(terms abi.Terms, labels abi.Labels, strs abi.Strings) bool {
	if terms.Len() == 0 {
		return true
	}
	for i := 0; i < terms.Len(); i++ {
		if matchTerm(terms.At(i), labels, strs) {
			return true
		}
	}
	return false
}

func matchTerm(exprs abi.Exprs, labels abi.Labels, strs abi.Strings) bool {
	if exprs.Len() == 0 {
		return false
	}
	for j := 0; j < exprs.Len(); j++ {
		v, ok := labels.Get(exprs.Key(j))
		vals := exprs.Values(j)
		switch exprs.Op(j) {
		case abi.OpIn:
			if !ok || !vals.Contains(v) {
				return false
			}
		case abi.OpNotIn:
			if ok && vals.Contains(v) {
				return false
			}
		case abi.OpExists:
			if !ok {
				return false
			}
		case abi.OpDoesNotExist:
			if ok {
				return false
			}
		case abi.OpGt, abi.OpLt:
			if !ok || vals.Len() != 1 {
				return false
			}
			have, ok1 := parseInt(strs.Get(v))
			want, ok2 := parseInt(strs.Get(vals.At(0)))
			if !ok1 || !ok2 {
				return false
			}
			if exprs.Op(j) == abi.OpGt && !(have > want) || exprs.Op(j) == abi.OpLt && !(have < want) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// parseInt parses a decimal integer without allocating; nil or malformed text is not a number.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
