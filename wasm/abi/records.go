package abi

// Record sizes in bytes. Lists inside records are {off u32, n u32} pairs pointing elsewhere in the
// arena; every record and list starts at a multiple of 4 (records with int64 fields at 8).
const (
	PodSize        = 64
	NodeSize       = 80
	LabelSize      = 8  // key u32, value u32
	TaintSize      = 12 // key u32, value u32, effect u32
	TolerationSize = 12 // key u32, value u32, op u8, effect u8, pad u16
	TermSize       = 8  // exprs list
	ExprSize       = 16 // key u32, op u32, values list
	ImageSize      = 8  // id u32, size MiB u32
	IDSize         = 4
	StringRefSize  = 8 // off u32, len u32
	VerdictSize    = 8 // verdict u8, pad [3]u8, reasons u32
	ScoreSize      = 4 // i32
)

// Pod record offsets.
const (
	podCPU      = 0  // i64 requested milli-CPU
	podMem      = 8  // i64 requested memory bytes
	podNodeName = 16 // u32 string id of spec.nodeName, 0 if unset
	podOwner    = 20 // u32 string id of the controlling owner's UID, 0 if none
	podPriority = 24 // i32
	podFlags    = 28 // u32 reserved
	podSelector = 32 // list of Label: spec.nodeSelector
	podTols     = 40 // list of Toleration
	podAffinity = 48 // list of Term: required node affinity, ORed
	podImages   = 56 // list of u32 string ids: container images
)

// Node record offsets.
const (
	nodeAllocCPU = 0  // i64 allocatable milli-CPU
	nodeAllocMem = 8  // i64 allocatable memory bytes
	nodeReqCPU   = 16 // i64 milli-CPU requested by pods bound to the node
	nodeReqMem   = 24 // i64 memory bytes requested by pods bound to the node
	nodeAllocPod = 32 // u32 allocatable pods
	nodePods     = 36 // u32 pods bound to the node
	nodeName     = 40 // u32 string id of the node's name
	nodeFlags    = 44 // u32 NodeFlags
	nodeLabels   = 48 // list of Label
	nodeTaints   = 56 // list of Taint
	nodeImages   = 64 // list of Image
	nodeMatching = 72 // u32 pods on the node with the same owner as the pod being scheduled
	// 76: u32 reserved, zero
)

// NodeFlags are bits of a node record's flags field.
type NodeFlags uint32

// Node flags.
const (
	NodeUnschedulable NodeFlags = 1 << 0 // spec.unschedulable
	NodeReady         NodeFlags = 1 << 1 // the Ready condition is True
)

// Verdict is a filter's answer for one node.
type Verdict uint8

// Verdicts. Zero is invalid: the host zeroes the output, so a node the guest never wrote fails
// the call with a bad-output error.
const (
	Feasible      Verdict = 1 // the pod may run there
	Unschedulable Verdict = 2 // not now; preempting pods could change that
	Unresolvable  Verdict = 3 // not ever, whatever is preempted
)

// Valid reports whether v is one of the defined verdicts.
func (v Verdict) Valid() bool { return v >= Feasible && v <= Unresolvable }

// Reasons is a set of reasons a node was rejected. Bits 0-15 are defined here; bits 16-31 are the
// module's own, with texts it declares in Info.Reasons.
type Reasons uint32

// Standard reasons, worded as Kubernetes' FailedScheduling events word them.
const (
	ReasonInsufficientCPU    Reasons = 1 << 0
	ReasonInsufficientMemory Reasons = 1 << 1
	ReasonTooManyPods        Reasons = 1 << 2
	ReasonNodeName           Reasons = 1 << 3
	ReasonNodeSelector       Reasons = 1 << 4
	ReasonUntoleratedTaint   Reasons = 1 << 5
	ReasonUnschedulable      Reasons = 1 << 6
	ReasonNotReady           Reasons = 1 << 7
	ReasonModuleFirst        Reasons = 1 << 16
)

var reasonTexts = [...]string{
	"Insufficient cpu",
	"Insufficient memory",
	"Too many pods",
	"node(s) didn't match the requested node name",
	"node(s) didn't match Pod's node affinity/selector",
	"node(s) had untolerated taint",
	"node(s) were unschedulable",
	"node(s) were not ready",
}

// ReasonText is the event text of standard reason bit (0-15), or "" if it is not defined.
func ReasonText(bit int) string {
	if bit < 0 || bit >= len(reasonTexts) {
		return ""
	}
	return reasonTexts[bit]
}

// Label is an interned key=value pair.
type Label struct{ Key, Value uint32 }

// TaintEffect is a taint's or toleration's effect; zero in a toleration matches all effects.
type TaintEffect uint8

// Taint effects.
const (
	EffectNoSchedule       TaintEffect = 1
	EffectPreferNoSchedule TaintEffect = 2
	EffectNoExecute        TaintEffect = 3
)

// Taint is an interned node taint.
type Taint struct {
	Key, Value uint32
	Effect     TaintEffect
}

// TolerationOp is a toleration's operator.
type TolerationOp uint8

// Toleration operators.
const (
	TolerateEqual  TolerationOp = 1
	TolerateExists TolerationOp = 2 // with Key 0: tolerates every taint
)

// Toleration is an interned pod toleration.
type Toleration struct {
	Key, Value uint32
	Op         TolerationOp
	Effect     TaintEffect
}

// Tolerates reports whether the toleration matches the taint, as Kubernetes' ToleratesTaint does.
func (t Toleration) Tolerates(taint Taint) bool {
	if t.Effect != 0 && t.Effect != taint.Effect {
		return false
	}
	if t.Key != 0 && t.Key != taint.Key {
		return false
	}
	switch t.Op {
	case TolerateExists:
		return true
	case TolerateEqual, 0:
		return t.Value == taint.Value
	}
	return false
}

// SelectorOp is a node selector requirement's operator.
type SelectorOp uint32

// Selector operators.
const (
	OpIn           SelectorOp = 1
	OpNotIn        SelectorOp = 2
	OpExists       SelectorOp = 3
	OpDoesNotExist SelectorOp = 4
	OpGt           SelectorOp = 5 // the single value's string is an integer
	OpLt           SelectorOp = 6
)

// Image is an interned container image present on a node.
type Image struct {
	ID      uint32
	SizeMiB uint32
}

// Expr is one node selector requirement (host side).
type Expr struct {
	Key    uint32
	Op     SelectorOp
	Values []uint32
}

// Term is a node selector term: its expressions are ANDed; a pod's terms are ORed.
type Term struct{ Exprs []Expr }

// PodInput is the host's description of the pod being scheduled.
type PodInput struct {
	CPUMilli     int64
	MemoryBytes  int64
	NodeName     uint32
	Owner        uint32
	Priority     int32
	NodeSelector []Label
	Tolerations  []Toleration
	Affinity     []Term
	Images       []uint32
}

// NodeInput is the host's description of one candidate node.
type NodeInput struct {
	AllocCPUMilli, AllocMemory int64
	ReqCPUMilli, ReqMemory     int64
	AllocPods, Pods            uint32
	Name                       uint32
	Flags                      NodeFlags
	Labels                     []Label
	Taints                     []Taint
	Images                     []Image
	Matching                   uint32
}

// Input is one scheduling decision: a pod, its candidate nodes and the string table. Strings[id]
// is the text of interned id; id 0 is always the empty string and means "unset". The table may
// be nil when the policy needs no text.
type Input struct {
	Pod     PodInput
	Nodes   []NodeInput
	Strings []string
}

// NodeVerdict is the host-side copy of one node's filter output.
type NodeVerdict struct {
	Verdict Verdict
	Reasons Reasons
}

// Result is the outcome of one scheduling decision. Its slices are reused across calls.
type Result struct {
	Verdicts []NodeVerdict // one per input node
	Feasible []uint32      // indices of nodes with verdict Feasible, ascending
	Scores   []int32       // Scores[i] is the score of node Feasible[i]
}

// Reset empties r for n nodes, keeping its capacity.
func (r *Result) Reset(n int) {
	if cap(r.Verdicts) < n {
		r.Verdicts = make([]NodeVerdict, n)
		r.Feasible = make([]uint32, 0, n)
		r.Scores = make([]int32, 0, n)
	}
	r.Verdicts = r.Verdicts[:n]
	r.Feasible = r.Feasible[:0]
	r.Scores = r.Scores[:0]
}
