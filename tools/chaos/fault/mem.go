package fault

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/skiff-sh/skiff/tools/lab"
)

// Mem is an in-memory Target: servers that can be killed, paused, cut off
// and handed leadership, with nothing real behind them. Tests use it to
// check fault bookkeeping; Dirty reports whatever is not healed.
type Mem struct {
	mu         sync.Mutex
	servers    []string
	leader     string
	killed     map[string]bool
	paused     map[string]bool
	isolated   map[string]bool
	cut        map[string][]string
	containerd map[string]int
	corrupt    map[string]bool // raft data damaged, not yet wiped
	full       map[string]bool // disk filled
	nextPid    int
	// CorruptServes makes a server with damaged raft data recover from its
	// peers on Start; by default it refuses to start.
	CorruptServes bool
	// DiskFullStops makes a full disk stop the server (FreeDisk restarts it).
	DiskFullStops bool
	// Fail, if set, makes the named operation fail ("kill", "isolate", ...).
	Fail map[string]error
	// Log lists every call, in order.
	Log []string
}

var _ Target = (*Mem)(nil)

// NewMem returns servers vm1…vmN, vm1 leading.
func NewMem(n int) *Mem {
	m := &Mem{killed: map[string]bool{}, paused: map[string]bool{}, isolated: map[string]bool{}, cut: map[string][]string{},
		containerd: map[string]int{}, corrupt: map[string]bool{}, full: map[string]bool{}, nextPid: 100, Fail: map[string]error{}}
	for i := 1; i <= n; i++ {
		vm := fmt.Sprintf("vm%d", i)
		m.servers = append(m.servers, vm)
		m.containerd[vm] = m.nextPid
		m.nextPid++
	}
	if n > 0 {
		m.leader = m.servers[0]
	}
	return m
}

func (m *Mem) call(op, vm string) error {
	m.Log = append(m.Log, op+" "+vm)
	return m.Fail[op]
}

// Servers implements Target.
func (m *Mem) Servers() []string { return slices.Clone(m.servers) }

// Leader implements Target: the leader, unless it is down, paused or cut
// off; then the first healthy server takes over (if there is none, the
// old leader stays).
func (m *Mem) Leader(context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("leader", ""); err != nil {
		return "", err
	}
	ok := func(vm string) bool { return !m.killed[vm] && !m.paused[vm] && !m.isolated[vm] }
	if ok(m.leader) {
		return m.leader, nil
	}
	for _, vm := range m.servers {
		if ok(vm) {
			m.leader = vm
			return vm, nil
		}
	}
	return m.leader, nil // everyone is down: the old leader, as a stale view would say
}

// Kill implements Target.
func (m *Mem) Kill(_ context.Context, vm string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("kill", vm); err != nil {
		return err
	}
	m.killed[vm] = true
	return nil
}

// Restart implements Target.
func (m *Mem) Restart(_ context.Context, vm string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("restart", vm); err != nil {
		return err
	}
	delete(m.killed, vm)
	return nil
}

// Pause implements Target.
func (m *Mem) Pause(vm string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("pause", vm); err != nil {
		return err
	}
	m.paused[vm] = true
	return nil
}

// Resume implements Target.
func (m *Mem) Resume(vm string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("resume", vm); err != nil {
		return err
	}
	delete(m.paused, vm)
	return nil
}

// Isolate implements Target.
func (m *Mem) Isolate(vm string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("isolate", vm); err != nil {
		return err
	}
	m.isolated[vm] = true
	return nil
}

// CutLinks implements Target.
func (m *Mem) CutLinks(links ...lab.Link) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("cut", fmt.Sprint(links)); err != nil {
		return err
	}
	for vm, peers := range lab.CutPeers(links) {
		m.cut[vm] = peers
	}
	return nil
}

// HealNetwork implements Target.
func (m *Mem) HealNetwork(vms ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("heal", fmt.Sprint(vms)); err != nil {
		return err
	}
	for _, vm := range vms {
		delete(m.isolated, vm)
		delete(m.cut, vm)
	}
	return nil
}

// KillContainerd implements Target: containerd comes back with a new pid
// at once, as the node daemon would start it.
func (m *Mem) KillContainerd(_ context.Context, vm string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("kill-containerd", vm); err != nil {
		return 0, err
	}
	old := m.containerd[vm]
	m.containerd[vm] = m.nextPid
	m.nextPid++
	return old, nil
}

// ContainerdBack implements Target.
func (m *Mem) ContainerdBack(_ context.Context, vm string, old int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("containerd-back", vm); err != nil {
		return err
	}
	if m.containerd[vm] == old {
		return fmt.Errorf("mem: containerd of %s still has pid %d", vm, old)
	}
	return nil
}

// TransferLeader implements Target.
func (m *Mem) TransferLeader(_ context.Context, to string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("transfer", to); err != nil {
		return err
	}
	m.leader = to
	return nil
}

// CorruptData implements Target: the server must be stopped.
func (m *Mem) CorruptData(_ context.Context, vm string, pick uint64) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("corrupt", vm); err != nil {
		return "", err
	}
	if !m.killed[vm] {
		return "", fmt.Errorf("mem: %s's server runs; stop it before damaging its data", vm)
	}
	m.corrupt[vm] = true
	return fmt.Sprintf("flipped bit %d of raft.db", pick%8), nil
}

// Start implements Target: a server with damaged data refuses to start
// (stays down) unless CorruptServes.
func (m *Mem) Start(_ context.Context, vm string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("start", vm); err != nil {
		return "", err
	}
	if m.corrupt[vm] && !m.CorruptServes {
		return "exited: mem: corrupt raft log", nil
	}
	delete(m.killed, vm)
	delete(m.corrupt, vm) // caught up from its peers
	return "serves", nil
}

// Rejoin implements Target.
func (m *Mem) Rejoin(_ context.Context, vm string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("rejoin", vm); err != nil {
		return "", err
	}
	if !m.killed[vm] && !m.corrupt[vm] {
		return "serving", nil
	}
	delete(m.killed, vm)
	delete(m.corrupt, vm)
	return "raft data wiped, rejoined", nil
}

// FillDisk implements Target.
func (m *Mem) FillDisk(_ context.Context, vm string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("fill", vm); err != nil {
		return "", err
	}
	m.full[vm] = true
	if m.DiskFullStops {
		m.killed[vm] = true
	}
	return "64 MiB", nil
}

// FreeDisk implements Target.
func (m *Mem) FreeDisk(_ context.Context, vm string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("free", vm); err != nil {
		return "", err
	}
	delete(m.full, vm)
	if m.killed[vm] {
		delete(m.killed, vm)
		return "the server had stopped; restarted", nil
	}
	return "the server kept running", nil
}

// Dirty lists what is not healed: killed, paused, isolated or cut servers,
// damaged data, full disks.
func (m *Mem) Dirty() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for what, set := range map[string]map[string]bool{"killed": m.killed, "paused": m.paused, "isolated": m.isolated, "corrupt": m.corrupt, "full": m.full} {
		for vm := range set {
			out = append(out, what+" "+vm)
		}
	}
	for vm, peers := range m.cut {
		out = append(out, fmt.Sprintf("%s cut from %v", vm, peers))
	}
	sort.Strings(out)
	return out
}
