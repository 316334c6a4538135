package abi

import (
	"encoding/binary"
	"fmt"
)

var le = binary.LittleEndian

// Layout records where EncodeSchedule put the output sections, so the host reads them from its
// own copy rather than from a header the guest could have overwritten.
type Layout struct {
	Size        uint32 // bytes of the arena in use, outputs included
	Nodes       uint32
	VerdictsOff uint32
	CandOff     uint32
	ScoresOff   uint32
}

// ScheduleSize is the number of arena bytes EncodeSchedule needs for in, outputs included.
func ScheduleSize(in *Input) uint32 {
	n := uint32(len(in.Nodes))
	size := uint32(HeaderSize + PodSize + n*NodeSize)
	size += podItemsSize(&in.Pod)
	for i := range in.Nodes {
		nd := &in.Nodes[i]
		size += uint32(len(nd.Labels)*LabelSize + len(nd.Taints)*TaintSize + len(nd.Images)*ImageSize)
	}
	size = align8(size)
	size += uint32(len(in.Strings) * StringRefSize)
	for _, s := range in.Strings {
		size += uint32(len(s))
	}
	size = align8(size)
	size += n * VerdictSize
	size += align8(n * IDSize)
	size += n * ScoreSize
	return align8(size)
}

func podItemsSize(p *PodInput) uint32 {
	size := len(p.NodeSelector)*LabelSize + len(p.Tolerations)*TolerationSize + len(p.Images)*IDSize
	size += len(p.Affinity) * TermSize
	for _, t := range p.Affinity {
		size += len(t.Exprs) * ExprSize
		for _, e := range t.Exprs {
			size += len(e.Values) * IDSize
		}
	}
	return uint32(size)
}

// encoder appends variable-length lists at pos while records are written in place.
type encoder struct {
	b   []byte
	pos uint32
}

func (e *encoder) list(at, n, elem uint32) uint32 {
	off := e.pos
	le.PutUint32(e.b[at:], off)
	le.PutUint32(e.b[at+4:], n)
	e.pos += n * elem
	return off
}

// EncodeSchedule writes the schedule call for in at the start of buf, zeroes the verdict output,
// and returns the layout. Candidates are empty until WriteCandidates.
func EncodeSchedule(buf []byte, in *Input) (Layout, error) {
	size := ScheduleSize(in)
	if uint64(len(buf)) < uint64(size) {
		return Layout{}, fmt.Errorf("%w: schedule call over %d nodes needs %d bytes, have %d", ErrShortArena, len(in.Nodes), size, len(buf))
	}
	b := buf[:size]
	n := uint32(len(in.Nodes))
	const podOff = HeaderSize
	const nodesOff = podOff + PodSize
	e := encoder{b: b, pos: nodesOff + n*NodeSize}

	p := &in.Pod
	pr := b[podOff : podOff+PodSize]
	le.PutUint64(pr[podCPU:], uint64(p.CPUMilli))
	le.PutUint64(pr[podMem:], uint64(p.MemoryBytes))
	le.PutUint32(pr[podNodeName:], p.NodeName)
	le.PutUint32(pr[podOwner:], p.Owner)
	le.PutUint32(pr[podPriority:], uint32(p.Priority))
	le.PutUint32(pr[podFlags:], 0)
	off := e.list(podOff+podSelector, uint32(len(p.NodeSelector)), LabelSize)
	for _, l := range p.NodeSelector {
		le.PutUint32(b[off:], l.Key)
		le.PutUint32(b[off+4:], l.Value)
		off += LabelSize
	}
	off = e.list(podOff+podTols, uint32(len(p.Tolerations)), TolerationSize)
	for _, t := range p.Tolerations {
		le.PutUint32(b[off:], t.Key)
		le.PutUint32(b[off+4:], t.Value)
		b[off+8], b[off+9], b[off+10], b[off+11] = byte(t.Op), byte(t.Effect), 0, 0
		off += TolerationSize
	}
	termOff := e.list(podOff+podAffinity, uint32(len(p.Affinity)), TermSize)
	for _, t := range p.Affinity {
		exprOff := e.list(termOff, uint32(len(t.Exprs)), ExprSize)
		for _, x := range t.Exprs {
			le.PutUint32(b[exprOff:], x.Key)
			le.PutUint32(b[exprOff+4:], uint32(x.Op))
			voff := e.list(exprOff+8, uint32(len(x.Values)), IDSize)
			for _, v := range x.Values {
				le.PutUint32(b[voff:], v)
				voff += IDSize
			}
			exprOff += ExprSize
		}
		termOff += TermSize
	}
	off = e.list(podOff+podImages, uint32(len(p.Images)), IDSize)
	for _, id := range p.Images {
		le.PutUint32(b[off:], id)
		off += IDSize
	}

	for i := range in.Nodes {
		nd := &in.Nodes[i]
		at := nodesOff + uint32(i)*NodeSize
		r := b[at : at+NodeSize]
		le.PutUint64(r[nodeAllocCPU:], uint64(nd.AllocCPUMilli))
		le.PutUint64(r[nodeAllocMem:], uint64(nd.AllocMemory))
		le.PutUint64(r[nodeReqCPU:], uint64(nd.ReqCPUMilli))
		le.PutUint64(r[nodeReqMem:], uint64(nd.ReqMemory))
		le.PutUint32(r[nodeAllocPod:], nd.AllocPods)
		le.PutUint32(r[nodePods:], nd.Pods)
		le.PutUint32(r[nodeName:], nd.Name)
		le.PutUint32(r[nodeFlags:], uint32(nd.Flags))
		le.PutUint32(r[nodeMatching:], nd.Matching)
		le.PutUint32(r[76:], 0)
		off := e.list(at+nodeLabels, uint32(len(nd.Labels)), LabelSize)
		for _, l := range nd.Labels {
			le.PutUint32(b[off:], l.Key)
			le.PutUint32(b[off+4:], l.Value)
			off += LabelSize
		}
		off = e.list(at+nodeTaints, uint32(len(nd.Taints)), TaintSize)
		for _, t := range nd.Taints {
			le.PutUint32(b[off:], t.Key)
			le.PutUint32(b[off+4:], t.Value)
			le.PutUint32(b[off+8:], uint32(t.Effect))
			off += TaintSize
		}
		off = e.list(at+nodeImages, uint32(len(nd.Images)), ImageSize)
		for _, im := range nd.Images {
			le.PutUint32(b[off:], im.ID)
			le.PutUint32(b[off+4:], im.SizeMiB)
			off += ImageSize
		}
	}

	strOff := align8(e.pos)
	strBytes := strOff + uint32(len(in.Strings))*StringRefSize
	for i, s := range in.Strings {
		le.PutUint32(b[strOff+uint32(i)*StringRefSize:], strBytes)
		le.PutUint32(b[strOff+uint32(i)*StringRefSize+4:], uint32(len(s)))
		strBytes += uint32(copy(b[strBytes:], s))
	}
	l := Layout{Size: size, Nodes: n}
	l.VerdictsOff = align8(strBytes)
	l.CandOff = l.VerdictsOff + n*VerdictSize
	l.ScoresOff = l.CandOff + align8(n*IDSize)
	clear(b[l.VerdictsOff:l.CandOff])

	h := b[:HeaderSize]
	le.PutUint32(h[hMagic:], Magic)
	le.PutUint16(h[hVersion:], Version)
	le.PutUint16(h[hKind:], KindSchedule)
	le.PutUint32(h[hSize:], size)
	le.PutUint32(h[hFlags:], 0)
	le.PutUint32(h[hPodOff:], podOff)
	le.PutUint32(h[hNodeCount:], n)
	le.PutUint32(h[hNodesOff:], nodesOff)
	le.PutUint32(h[hStrCount:], uint32(len(in.Strings)))
	le.PutUint32(h[hStrOff:], strOff)
	le.PutUint32(h[hVerdOff:], l.VerdictsOff)
	le.PutUint32(h[hCandCount:], 0)
	le.PutUint32(h[hCandOff:], l.CandOff)
	le.PutUint32(h[hScoreOff:], l.ScoresOff)
	clear(h[52:])
	return l, nil
}

// WriteCandidates sets the nodes the next score call scores (indices into the input nodes) and
// zeroes the score output.
func WriteCandidates(buf []byte, l Layout, idx []uint32) error {
	if uint32(len(idx)) > l.Nodes || uint64(len(buf)) < uint64(l.Size) {
		return fmt.Errorf("%w: %d candidates for %d nodes", ErrShortArena, len(idx), l.Nodes)
	}
	off := l.CandOff
	for _, i := range idx {
		if i >= l.Nodes {
			return fmt.Errorf("abi: candidate %d out of range (%d nodes)", i, l.Nodes)
		}
		le.PutUint32(buf[off:], i)
		off += IDSize
	}
	le.PutUint32(buf[hCandCount:], uint32(len(idx)))
	clear(buf[l.ScoresOff : l.ScoresOff+uint32(len(idx))*ScoreSize])
	return nil
}

// ReadVerdicts validates the filter output and stores it in r.Verdicts and r.Feasible
// (r must have been Reset for l.Nodes nodes).
func ReadVerdicts(buf []byte, l Layout, r *Result) error {
	if uint64(len(buf)) < uint64(l.Size) || len(r.Verdicts) != int(l.Nodes) {
		return fmt.Errorf("%w: verdicts for %d nodes", ErrShortArena, l.Nodes)
	}
	out := buf[l.VerdictsOff : l.VerdictsOff+l.Nodes*VerdictSize]
	r.Feasible = r.Feasible[:0]
	for i := range r.Verdicts {
		rec := out[i*VerdictSize : i*VerdictSize+VerdictSize]
		v := Verdict(rec[0])
		if !v.Valid() {
			return fmt.Errorf("%w: node %d has verdict %d, want 1-3", ErrBadVerdict, i, rec[0])
		}
		r.Verdicts[i] = NodeVerdict{Verdict: v, Reasons: Reasons(le.Uint32(rec[4:]))}
		if v == Feasible {
			r.Feasible = append(r.Feasible, uint32(i))
		}
	}
	return nil
}

// ReadScores validates n scores of the score output and appends them to dst.
func ReadScores(buf []byte, l Layout, n int, dst []int32) ([]int32, error) {
	if uint64(len(buf)) < uint64(l.Size) || uint32(n) > l.Nodes {
		return dst, fmt.Errorf("%w: %d scores", ErrShortArena, n)
	}
	out := buf[l.ScoresOff : l.ScoresOff+uint32(n)*ScoreSize]
	for i := 0; i < n; i++ {
		s := int32(le.Uint32(out[i*ScoreSize:]))
		if s < 0 || s > MaxScore {
			return dst, fmt.Errorf("%w: candidate %d scored %d", ErrBadScore, i, s)
		}
		dst = append(dst, s)
	}
	return dst, nil
}

// JSONLayout records where EncodeJSON put the output area.
type JSONLayout struct{ OutOff, OutCap uint32 }

// JSONSize is the number of arena bytes a JSON call with inLen input bytes and outCap output
// bytes needs.
func JSONSize(inLen, outCap int) uint32 {
	return align8(uint32(HeaderSize+inLen)) + uint32(outCap)
}

// EncodeJSON writes a JSON call with input in; the rest of buf is the output area.
func EncodeJSON(buf []byte, in []byte) (JSONLayout, error) {
	outOff := align8(uint32(HeaderSize + len(in)))
	if uint64(len(buf)) < uint64(outOff) {
		return JSONLayout{}, fmt.Errorf("%w: JSON call with %d input bytes, have %d", ErrShortArena, len(in), len(buf))
	}
	l := JSONLayout{OutOff: outOff, OutCap: uint32(len(buf)) - outOff}
	copy(buf[HeaderSize:], in)
	h := buf[:HeaderSize]
	clear(h)
	le.PutUint32(h[hMagic:], Magic)
	le.PutUint16(h[hVersion:], Version)
	le.PutUint16(h[hKind:], KindJSON)
	le.PutUint32(h[hSize:], uint32(len(buf)))
	le.PutUint32(h[hInOff:], HeaderSize)
	le.PutUint32(h[hInLen:], uint32(len(in)))
	le.PutUint32(h[hOutOff:], l.OutOff)
	le.PutUint32(h[hOutCap:], l.OutCap)
	return l, nil
}

// JSONOutLen is the output length the guest reported (bytes needed, after StatusOutputTooLarge).
func JSONOutLen(buf []byte) uint32 { return le.Uint32(buf[hOutLen:]) }

// ReadJSON returns the guest's output; it aliases buf.
func ReadJSON(buf []byte, l JSONLayout) ([]byte, error) {
	if len(buf) < HeaderSize {
		return nil, fmt.Errorf("%w: arena of %d bytes", ErrShortArena, len(buf))
	}
	n := JSONOutLen(buf)
	if n > l.OutCap || uint64(l.OutOff)+uint64(n) > uint64(len(buf)) {
		return nil, fmt.Errorf("%w: guest reported %d output bytes, capacity %d", ErrBadOutput, n, l.OutCap)
	}
	return buf[l.OutOff : l.OutOff+n], nil
}
