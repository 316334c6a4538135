package scheduler

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// nodeInfo is one node as the scheduler sees it: the static part of its record (replaced, never
// changed in place, when the Node changes) and the requests of the pods bound or assumed on it.
type nodeInfo struct {
	name    string
	present bool // the Node object exists; otherwise only pods refer to it
	idx     int  // position in snapshot.list while present
	rec     abi.NodeInput
	owners  map[uint32]uint32 // owner id → pods of that owner on the node
	pods    int               // pods referring to the node, present or not
}

// podInfo is a pod bound or assumed on a node.
type podInfo struct {
	node     *nodeInfo
	cpu, mem int64
	owner    uint32
	assumed  bool // placed by us, binding not yet seen through the watch
}

// snapshot is the cluster as the scheduler sees it.
type snapshot struct {
	mu     sync.RWMutex
	byName map[string]*nodeInfo
	list   []*nodeInfo // present nodes, in no particular order
	pods   map[types.UID]*podInfo
}

func newSnapshot() *snapshot {
	return &snapshot{byName: map[string]*nodeInfo{}, pods: map[types.UID]*podInfo{}}
}

// node returns the entry of name, creating an absent one. Callers hold mu.
func (s *snapshot) node(name string) *nodeInfo {
	n := s.byName[name]
	if n == nil {
		n = &nodeInfo{name: name, idx: -1, owners: map[uint32]uint32{}}
		s.byName[name] = n
	}
	return n
}

// setNode records a node's static record; it reports whether it is new or its record changed in
// a way that could let a waiting pod fit.
func (s *snapshot) setNode(name string, rec abi.NodeInput) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node(name)
	changed := !n.present || staticChanged(&n.rec, &rec)
	rec.ReqCPUMilli, rec.ReqMemory, rec.Pods = n.rec.ReqCPUMilli, n.rec.ReqMemory, n.rec.Pods
	n.rec = rec
	if !n.present {
		n.present = true
		n.idx = len(s.list)
		s.list = append(s.list, n)
	}
	return changed
}

func staticChanged(a, b *abi.NodeInput) bool {
	if a.AllocCPUMilli != b.AllocCPUMilli || a.AllocMemory != b.AllocMemory || a.AllocPods != b.AllocPods || a.Flags != b.Flags ||
		len(a.Labels) != len(b.Labels) || len(a.Taints) != len(b.Taints) {
		return true
	}
	for i := range a.Labels {
		if a.Labels[i] != b.Labels[i] {
			return true
		}
	}
	for i := range a.Taints {
		if a.Taints[i] != b.Taints[i] {
			return true
		}
	}
	return false
}

// removeNode drops a node from the candidates; pods still bound to it keep its entry.
func (s *snapshot) removeNode(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.byName[name]
	if n == nil || !n.present {
		return
	}
	last := s.list[len(s.list)-1]
	s.list[n.idx] = last
	last.idx = n.idx
	s.list = s.list[:len(s.list)-1]
	n.present, n.idx = false, -1
	s.gcNode(n)
}

func (s *snapshot) gcNode(n *nodeInfo) {
	if !n.present && n.pods == 0 {
		delete(s.byName, n.name)
	}
}

func (s *snapshot) add(n *nodeInfo, p *podInfo) {
	n.rec.ReqCPUMilli += p.cpu
	n.rec.ReqMemory += p.mem
	n.rec.Pods++
	n.pods++
	if p.owner != 0 {
		n.owners[p.owner]++
	}
	p.node = n
}

func (s *snapshot) sub(p *podInfo) {
	n := p.node
	n.rec.ReqCPUMilli -= p.cpu
	n.rec.ReqMemory -= p.mem
	n.rec.Pods--
	n.pods--
	if p.owner != 0 {
		if c := n.owners[p.owner]; c <= 1 {
			delete(n.owners, p.owner)
		} else {
			n.owners[p.owner] = c - 1
		}
	}
	s.gcNode(n)
}

// bound records a pod the watch shows on a node, confirming an assumed pod.
func (s *snapshot) bound(uid types.UID, node string, cpu, mem int64, owner uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pods[uid]; p != nil {
		if p.node.name == node && p.cpu == cpu && p.mem == mem && p.owner == owner {
			p.assumed = false
			return
		}
		s.sub(p)
	}
	p := &podInfo{cpu: cpu, mem: mem, owner: owner}
	s.pods[uid] = p
	s.add(s.node(node), p)
}

// removePod forgets a pod (deleted, or terminated); it reports whether it held room on a node.
func (s *snapshot) removePod(uid types.UID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pods[uid]
	if p == nil {
		return false
	}
	delete(s.pods, uid)
	s.sub(p)
	return true
}

// isPlaced reports whether the pod is bound or assumed.
func (s *snapshot) isPlaced(uid types.UID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pods[uid] != nil
}

// assume places the pod on n if it still fits there as the snapshot is now: the commit point of
// a decision.
func (s *snapshot) assume(uid types.UID, n *nodeInfo, cpu, mem int64, owner uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !n.present || s.pods[uid] != nil || !fits(&n.rec, cpu, mem) {
		return false
	}
	p := &podInfo{cpu: cpu, mem: mem, owner: owner, assumed: true}
	s.pods[uid] = p
	s.add(n, p)
	return true
}

// forget undoes assume after a failed binding.
func (s *snapshot) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pods[uid]; p != nil && p.assumed {
		delete(s.pods, uid)
		s.sub(p)
	}
}

// fits is NodeResourcesFit's check, the host's guard at commit time.
func fits(r *abi.NodeInput, cpu, mem int64) bool {
	return r.Pods+1 <= r.AllocPods &&
		(cpu <= 0 || cpu <= r.AllocCPUMilli-r.ReqCPUMilli) &&
		(mem <= 0 || mem <= r.AllocMemory-r.ReqMemory)
}
