package abi

import (
	"errors"
	"unsafe"
)

// Views read records in place. They are small values over the arena, valid until the call
// returns; they never allocate. An index out of range panics (a trap in the guest). Views read
// memory directly, so this package supports little-endian machines only (endian_be.go).

var (
	errNotSchedule = errors.New("abi: not a schedule call")
	errNotJSON     = errors.New("abi: not a JSON call")
	errBounds      = errors.New("abi: header points outside the arena")
)

// Request is a parsed schedule call.
type Request struct {
	base unsafe.Pointer // the arena
}

// ParseSchedule checks the header at the start of buf and returns a view of the call. The
// records themselves are trusted: the host wrote them.
func ParseSchedule(buf []byte) (Request, error) {
	if len(buf) < HeaderSize || le.Uint32(buf[hMagic:]) != Magic || le.Uint16(buf[hVersion:]) != Version {
		return Request{}, ErrBadHeader
	}
	if le.Uint16(buf[hKind:]) != KindSchedule {
		return Request{}, errNotSchedule
	}
	size := uint64(le.Uint32(buf[hSize:]))
	n := uint64(le.Uint32(buf[hNodeCount:]))
	c := uint64(le.Uint32(buf[hCandCount:]))
	if size > uint64(len(buf)) ||
		uint64(le.Uint32(buf[hPodOff:]))+PodSize > size ||
		uint64(le.Uint32(buf[hNodesOff:]))+n*NodeSize > size ||
		uint64(le.Uint32(buf[hStrOff:]))+uint64(le.Uint32(buf[hStrCount:]))*StringRefSize > size ||
		uint64(le.Uint32(buf[hVerdOff:]))+n*VerdictSize > size ||
		c > n ||
		uint64(le.Uint32(buf[hCandOff:]))+c*IDSize > size ||
		uint64(le.Uint32(buf[hScoreOff:]))+c*ScoreSize > size {
		return Request{}, errBounds
	}
	return Request{base: unsafe.Pointer(unsafe.SliceData(buf))}, nil
}

func (r Request) hdr(off uint32) uint32 { return ld32(r.base, off) }

// Pod is the pod being scheduled.
func (r Request) Pod() Pod { return Pod{base: r.base, rec: unsafe.Add(r.base, r.hdr(hPodOff))} }

// Nodes are all input nodes, the filter's domain.
func (r Request) Nodes() Nodes { return Nodes{base: r.base, n: r.hdr(hNodeCount)} }

// Candidates are the nodes to score, in the order of the score output.
func (r Request) Candidates() Nodes {
	return Nodes{base: r.base, n: r.hdr(hCandCount), candOff: r.hdr(hCandOff)}
}

// Strings is the string table.
func (r Request) Strings() Strings {
	return Strings{base: r.base, off: r.hdr(hStrOff), n: r.hdr(hStrCount)}
}

// Verdicts is the filter output, one per node of Nodes.
func (r Request) Verdicts() Verdicts {
	return Verdicts{p: unsafe.Add(r.base, r.hdr(hVerdOff)), n: r.hdr(hNodeCount)}
}

// Scores is the score output, one per node of Candidates.
func (r Request) Scores() Scores {
	return Scores{p: unsafe.Add(r.base, r.hdr(hScoreOff)), n: r.hdr(hCandCount)}
}

// Views are at most 16 bytes, so Go's wasm backend copies them in registers rather than with
// memory.copy (which wazero runs as a call into the Go runtime); fields are read with single
// little-endian loads at fixed offsets.

func ld32(p unsafe.Pointer, off uint32) uint32 { return *(*uint32)(unsafe.Add(p, off)) }
func ld64(p unsafe.Pointer, off uint32) uint64 { return *(*uint64)(unsafe.Add(p, off)) }

// errIndex is the panic of an index out of range.
var errIndex = errors.New("abi: index out of range")

// Pod is a view of the pod record.
type Pod struct {
	base, rec unsafe.Pointer
}

// CPUMilli is the pod's total CPU request in milli-CPU.
func (p Pod) CPUMilli() int64 { return int64(ld64(p.rec, podCPU)) }

// MemoryBytes is the pod's total memory request.
func (p Pod) MemoryBytes() int64 { return int64(ld64(p.rec, podMem)) }

// NodeName is the interned spec.nodeName, 0 if unset.
func (p Pod) NodeName() uint32 { return ld32(p.rec, podNodeName) }

// Owner is the interned UID of the pod's controller, 0 if none.
func (p Pod) Owner() uint32 { return ld32(p.rec, podOwner) }

// Priority is the pod's priority.
func (p Pod) Priority() int32 { return int32(ld32(p.rec, podPriority)) }

// NodeSelector is spec.nodeSelector; every pair must be among the node's labels.
func (p Pod) NodeSelector() Labels { return Labels(listAt(p.base, p.rec, podSelector)) }

// Tolerations are the pod's tolerations.
func (p Pod) Tolerations() Tolerations { return Tolerations(listAt(p.base, p.rec, podTols)) }

// Affinity is the required node affinity: the node must match at least one term (when there are any).
func (p Pod) Affinity() Terms { return Terms(listAt(p.base, p.rec, podAffinity)) }

// Images are the interned images of the pod's containers.
func (p Pod) Images() IDs { return IDs(listAt(p.base, p.rec, podImages)) }

// Strings is the call's string table, the same as Request.Strings: policies that need text (Gt
// and Lt requirements, well-known taint keys) reach it from the pod they are given. It may be
// empty: a host sends it only to decisions that need it (ABI.md, Strings).
func (p Pod) Strings() Strings {
	return Strings{base: p.base, off: ld32(p.base, hStrOff), n: ld32(p.base, hStrCount)}
}

// Nodes is a list of node records: all input nodes, or the score candidates.
type Nodes struct {
	base    unsafe.Pointer
	n       uint32
	candOff uint32 // offset of the candidate indices, 0 for all nodes
}

// Len is the number of nodes.
func (ns Nodes) Len() int { return int(ns.n) }

// Index is the position in the input nodes of the i-th node of ns.
func (ns Nodes) Index(i int) int {
	if uint(i) >= uint(ns.n) {
		panic(errIndex)
	}
	if ns.candOff == 0 {
		return i
	}
	return int(ld32(ns.base, ns.candOff+uint32(i)*IDSize))
}

// At is the i-th node of ns.
func (ns Nodes) At(i int) Node {
	j := uint32(ns.Index(i))
	return Node{base: ns.base, rec: unsafe.Add(ns.base, ld32(ns.base, hNodesOff)+j*NodeSize)}
}

// Node is a view of one node record.
type Node struct {
	base, rec unsafe.Pointer
}

// AllocCPUMilli is the node's allocatable milli-CPU.
func (n Node) AllocCPUMilli() int64 { return int64(ld64(n.rec, nodeAllocCPU)) }

// AllocMemory is the node's allocatable memory in bytes.
func (n Node) AllocMemory() int64 { return int64(ld64(n.rec, nodeAllocMem)) }

// ReqCPUMilli is the milli-CPU requested by the pods bound to the node.
func (n Node) ReqCPUMilli() int64 { return int64(ld64(n.rec, nodeReqCPU)) }

// ReqMemory is the memory requested by the pods bound to the node.
func (n Node) ReqMemory() int64 { return int64(ld64(n.rec, nodeReqMem)) }

// AllocPods is the node's pod capacity.
func (n Node) AllocPods() uint32 { return ld32(n.rec, nodeAllocPod) }

// Pods is the number of pods bound to the node.
func (n Node) Pods() uint32 { return ld32(n.rec, nodePods) }

// Name is the node's interned name.
func (n Node) Name() uint32 { return ld32(n.rec, nodeName) }

// Flags are the node's flags.
func (n Node) Flags() NodeFlags { return NodeFlags(ld32(n.rec, nodeFlags)) }

// Matching is the number of pods on the node with the same owner as the pod being scheduled.
func (n Node) Matching() uint32 { return ld32(n.rec, nodeMatching) }

// Labels are the node's labels.
func (n Node) Labels() Labels { return Labels(listAt(n.base, n.rec, nodeLabels)) }

// Taints are the node's taints.
func (n Node) Taints() Taints { return Taints(listAt(n.base, n.rec, nodeTaints)) }

// Images are the images present on the node.
func (n Node) Images() Images { return Images(listAt(n.base, n.rec, nodeImages)) }

// list is a {off, n} reference read from a record.
type list struct {
	base unsafe.Pointer
	off  uint32
	n    uint32
}

func listAt(base, rec unsafe.Pointer, at uint32) list {
	return list{base: base, off: ld32(rec, at), n: ld32(rec, at+4)}
}

func (l list) elem(i int, size uint32) unsafe.Pointer {
	if uint(i) >= uint(l.n) {
		panic(errIndex)
	}
	return unsafe.Add(l.base, l.off+uint32(i)*size)
}

// Labels is a list of key=value pairs.
type Labels list

// Len is the number of labels.
func (l Labels) Len() int { return int(l.n) }

// At is the i-th label.
func (l Labels) At(i int) Label {
	p := list(l).elem(i, LabelSize)
	return Label{Key: ld32(p, 0), Value: ld32(p, 4)}
}

// Get returns the value of key.
func (l Labels) Get(key uint32) (uint32, bool) {
	p := unsafe.Add(l.base, l.off)
	for i := uint32(0); i < l.n; i++ {
		if ld32(p, i*LabelSize) == key {
			return ld32(p, i*LabelSize+4), true
		}
	}
	return 0, false
}

// Taints is a list of taints.
type Taints list

// Len is the number of taints.
func (l Taints) Len() int { return int(l.n) }

// At is the i-th taint.
func (l Taints) At(i int) Taint {
	p := list(l).elem(i, TaintSize)
	return Taint{Key: ld32(p, 0), Value: ld32(p, 4), Effect: TaintEffect(ld32(p, 8))}
}

// Tolerations is a list of tolerations.
type Tolerations list

// Len is the number of tolerations.
func (l Tolerations) Len() int { return int(l.n) }

// At is the i-th toleration.
func (l Tolerations) At(i int) Toleration {
	p := list(l).elem(i, TolerationSize)
	w := ld32(p, 8)
	return Toleration{Key: ld32(p, 0), Value: ld32(p, 4), Op: TolerationOp(w), Effect: TaintEffect(w >> 8)}
}

// ToleratesAll reports whether some toleration matches taint.
func (l Tolerations) ToleratesAll(taint Taint) bool {
	for i := 0; i < int(l.n); i++ {
		if l.At(i).Tolerates(taint) {
			return true
		}
	}
	return false
}

// Terms is a list of node selector terms.
type Terms list

// Len is the number of terms.
func (l Terms) Len() int { return int(l.n) }

// At is the i-th term's expressions.
func (l Terms) At(i int) Exprs {
	p := list(l).elem(i, TermSize)
	return Exprs{base: l.base, off: ld32(p, 0), n: ld32(p, 4)}
}

// Exprs is a list of node selector requirements, ANDed.
type Exprs list

// Len is the number of requirements.
func (l Exprs) Len() int { return int(l.n) }

// Key is the i-th requirement's label key.
func (l Exprs) Key(i int) uint32 { return ld32(list(l).elem(i, ExprSize), 0) }

// Op is the i-th requirement's operator.
func (l Exprs) Op(i int) SelectorOp { return SelectorOp(ld32(list(l).elem(i, ExprSize), 4)) }

// Values are the i-th requirement's values.
func (l Exprs) Values(i int) IDs {
	p := list(l).elem(i, ExprSize)
	return IDs{base: l.base, off: ld32(p, 8), n: ld32(p, 12)}
}

// IDs is a list of interned strings.
type IDs list

// Len is the number of ids.
func (l IDs) Len() int { return int(l.n) }

// At is the i-th id.
func (l IDs) At(i int) uint32 { return ld32(list(l).elem(i, IDSize), 0) }

// Contains reports whether id is in the list.
func (l IDs) Contains(id uint32) bool {
	p := unsafe.Add(l.base, l.off)
	for i := uint32(0); i < l.n; i++ {
		if ld32(p, i*IDSize) == id {
			return true
		}
	}
	return false
}

// Images is a list of images on a node.
type Images list

// Len is the number of images.
func (l Images) Len() int { return int(l.n) }

// At is the i-th image.
func (l Images) At(i int) Image {
	p := list(l).elem(i, ImageSize)
	return Image{ID: ld32(p, 0), SizeMiB: ld32(p, 4)}
}

// Strings is the string table.
type Strings list

// Len is the number of strings.
func (s Strings) Len() int { return int(s.n) }

// Get is the text of id, or nil if the table does not have it.
func (s Strings) Get(id uint32) []byte {
	if id >= s.n {
		return nil
	}
	p := unsafe.Add(s.base, s.off+id*StringRefSize)
	return unsafe.Slice((*byte)(unsafe.Add(s.base, ld32(p, 0))), ld32(p, 4))
}

// Verdicts is the filter output.
type Verdicts struct {
	p unsafe.Pointer
	n uint32
}

// Len is the number of verdicts (the number of nodes).
func (v Verdicts) Len() int { return int(v.n) }

// Set records node i's verdict and, for rejections, why.
func (v Verdicts) Set(i int, verdict Verdict, why Reasons) {
	if uint(i) >= uint(v.n) {
		panic(errIndex)
	}
	*(*uint64)(unsafe.Add(v.p, uint32(i)*VerdictSize)) = uint64(verdict) | uint64(why)<<32
}

// Scores is the score output.
type Scores struct {
	p unsafe.Pointer
	n uint32
}

// Len is the number of scores (the number of candidates).
func (s Scores) Len() int { return int(s.n) }

// Set records candidate i's score, which must be in [0, MaxScore].
func (s Scores) Set(i int, score int32) {
	if uint(i) >= uint(s.n) {
		panic(errIndex)
	}
	*(*int32)(unsafe.Add(s.p, uint32(i)*ScoreSize)) = score
}

// JSONCall is a parsed JSON call.
type JSONCall struct{ b []byte }

// ParseJSON checks the header at the start of buf and returns a view of the call.
func ParseJSON(buf []byte) (JSONCall, error) {
	if len(buf) < HeaderSize || le.Uint32(buf[hMagic:]) != Magic || le.Uint16(buf[hVersion:]) != Version {
		return JSONCall{}, ErrBadHeader
	}
	if le.Uint16(buf[hKind:]) != KindJSON {
		return JSONCall{}, errNotJSON
	}
	size := uint64(le.Uint32(buf[hSize:]))
	if size > uint64(len(buf)) ||
		uint64(le.Uint32(buf[hInOff:]))+uint64(le.Uint32(buf[hInLen:])) > size ||
		uint64(le.Uint32(buf[hOutOff:]))+uint64(le.Uint32(buf[hOutCap:])) > size {
		return JSONCall{}, errBounds
	}
	return JSONCall{b: buf}, nil
}

// In is the input JSON.
func (c JSONCall) In() []byte {
	off := le.Uint32(c.b[hInOff:])
	return c.b[off : off+le.Uint32(c.b[hInLen:])]
}

// Out is the output area, its full capacity.
func (c JSONCall) Out() []byte {
	off := le.Uint32(c.b[hOutOff:])
	return c.b[off : off+le.Uint32(c.b[hOutCap:])]
}

// SetOutLen records how many output bytes were written (or are needed, with StatusOutputTooLarge).
func (c JSONCall) SetOutLen(n int) { le.PutUint32(c.b[hOutLen:], uint32(n)) }

// WriteOut copies out into the output area and records its length; with too little room it
// records the length needed and returns StatusOutputTooLarge.
func (c JSONCall) WriteOut(out []byte) Status {
	dst := c.Out()
	c.SetOutLen(len(out))
	if len(out) > len(dst) {
		return StatusOutputTooLarge
	}
	copy(dst, out)
	return StatusOK
}
