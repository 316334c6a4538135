package fault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/tools/lab"
)

// Record is one injected fault, for the run's timeline.
type Record struct {
	Step
	VMs    []string `json:"vms"`              // the VMs it acted on
	Detail string   `json:"detail,omitempty"` // what exactly was done
	// Injected and Healed are on the run's clock, when injecting and
	// healing began; Healed is 0 while open.
	Injected time.Duration `json:"injected"`
	Healed   time.Duration `json:"healed,omitempty"`
	Err      string        `json:"err,omitempty"`     // the injection failed (nothing is left open)
	HealErr  string        `json:"healErr,omitempty"` // healing failed
	// Outcome is how the target took the fault and its heal, where that
	// varies: a corrupted server serving or refusing to start, a server
	// rejoining with its raft data wiped, a server a full disk stopped.
	Outcome string `json:"outcome,omitempty"`
	// Recovery, measured by the runner after the heal: until the members
	// agree on a leader, and until the first write succeeds (-1: never).
	Election   time.Duration `json:"election,omitempty"`
	FirstWrite time.Duration `json:"firstWrite,omitempty"`
}

// Open reports whether the fault is injected and not healed.
func (r Record) Open() bool { return r.Err == "" && r.Healed == 0 }

// Book injects faults into a target and heals them, keeping their records.
type Book struct {
	t     Target
	clock func() time.Duration

	mu      sync.Mutex
	records []Record
	heals   map[int]healFunc // by index in records, while open
}

// healFunc heals a fault and may say how it went (Record.Outcome).
type healFunc func(context.Context) (string, error)

// noNote is a heal with nothing to say.
func noNote(f func(context.Context) error) healFunc {
	return func(ctx context.Context) (string, error) { return "", f(ctx) }
}

// NewBook returns a book on t; clock is the run's clock (time since start).
func NewBook(t Target, clock func() time.Duration) *Book {
	return &Book{t: t, clock: clock, heals: map[int]healFunc{}}
}

// Inject injects the step's fault and returns its record's index. A fault
// that fails half-way is healed at once and recorded with its error.
func (b *Book) Inject(ctx context.Context, s Step) (int, error) {
	rec := Record{Step: s, Injected: max(b.clock(), 1)} // 0 would read as "not yet"
	heal, err := b.inject(ctx, s, &rec)
	b.mu.Lock()
	defer b.mu.Unlock()
	id := len(b.records)
	if err != nil {
		rec.Err = err.Error()
		if heal != nil {
			note, herr := heal(context.WithoutCancel(ctx))
			rec.Outcome = join(rec.Outcome, note)
			if herr != nil {
				rec.HealErr = herr.Error()
			}
		}
		rec.Healed = b.clock()
		b.records = append(b.records, rec)
		return id, fmt.Errorf("fault: injecting %s: %w", s.Kind, err)
	}
	b.records = append(b.records, rec)
	b.heals[id] = heal
	return id, nil
}

// Heal heals the fault with the given index; healing a healed one is a no-op.
// It keeps trying after ctx ends: a fault is never left open for want of time.
func (b *Book) Heal(ctx context.Context, id int) error {
	b.mu.Lock()
	heal, ok := b.heals[id]
	delete(b.heals, id)
	b.mu.Unlock()
	if !ok {
		return nil
	}
	start := b.clock()
	var err error
	var note string
	if heal != nil {
		note, err = heal(context.WithoutCancel(ctx))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records[id].Healed = max(start, b.records[id].Injected) // when healing began
	b.records[id].Outcome = join(b.records[id].Outcome, note)
	if err != nil {
		b.records[id].HealErr = err.Error()
		return fmt.Errorf("fault: healing %s on %v: %w", b.records[id].Kind, b.records[id].VMs, err)
	}
	return nil
}

// HealAll heals every open fault, newest first, and returns every error.
func (b *Book) HealAll(ctx context.Context) error {
	b.mu.Lock()
	var ids []int
	for id := range b.heals {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	slices.Sort(ids)
	var errs []error
	for i := len(ids) - 1; i >= 0; i-- {
		errs = append(errs, b.Heal(ctx, ids[i]))
	}
	return errors.Join(errs...)
}

// SetRecovery records the recovery times measured after fault id's heal.
func (b *Book) SetRecovery(id int, election, firstWrite time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id >= 0 && id < len(b.records) {
		b.records[id].Election, b.records[id].FirstWrite = election, firstWrite
	}
}

// Records returns a copy of every record, in injection order.
func (b *Book) Records() []Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Record, len(b.records))
	for i, r := range b.records {
		r.VMs = slices.Clone(r.VMs)
		out[i] = r
	}
	return out
}

// OpenFaults lists the records of faults not healed yet.
func (b *Book) OpenFaults() []Record {
	var out []Record
	for _, r := range b.Records() {
		if r.Open() {
			out = append(out, r)
		}
	}
	return out
}

// join joins two outcome notes.
func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// pick returns the candidate that s.Pick chooses, offset by i.
func pick(s Step, candidates []string, i int) string {
	return candidates[int((s.Pick+uint64(i))%uint64(len(candidates)))]
}

// others are the servers but vm.
func others(servers []string, vm string) []string {
	return slices.DeleteFunc(slices.Clone(servers), func(s string) bool { return s == vm })
}

// transfers is how many leadership transfers a Transfer burst makes.
const transfers = 3

// inject does the step and returns how to heal it (nil: nothing to heal).
// On error the returned heal, if any, undoes what was done.
func (b *Book) inject(ctx context.Context, s Step, rec *Record) (healFunc, error) {
	t := b.t
	servers := t.Servers()
	if len(servers) == 0 {
		return nil, errors.New("no servers")
	}
	leaderOr := func() (string, error) { return t.Leader(ctx) }
	switch s.Kind {
	case KillLeader, KillFollower:
		leader, err := leaderOr()
		if err != nil {
			return nil, err
		}
		vm := leader
		if s.Kind == KillFollower {
			if len(servers) < 2 {
				return nil, errors.New("no follower in a one-server cluster")
			}
			vm = pick(s, others(servers, leader), 0)
		}
		rec.VMs, rec.Detail = []string{vm}, "kill -9 "+vm+"'s skiff (leader "+leader+")"
		restart := noNote(func(ctx context.Context) error { return t.Restart(ctx, vm) })
		if err := t.Kill(ctx, vm); err != nil {
			return restart, err
		}
		return restart, nil
	case Pause:
		vm := pick(s, servers, 0)
		rec.VMs, rec.Detail = []string{vm}, "SIGSTOP "+vm+"'s skiff"
		resume := noNote(func(context.Context) error { return t.Resume(vm) })
		if err := t.Pause(vm); err != nil {
			return resume, err
		}
		return resume, nil
	case IsolateLeader, Isolate:
		vm := pick(s, servers, 0)
		if s.Kind == IsolateLeader {
			var err error
			if vm, err = leaderOr(); err != nil {
				return nil, err
			}
		}
		rec.VMs, rec.Detail = []string{vm}, vm+" cut off the network"
		heal := noNote(func(context.Context) error { return t.HealNetwork(vm) })
		if err := t.Isolate(vm); err != nil {
			return heal, err
		}
		return heal, nil
	case Split:
		if len(servers) < 2 {
			return nil, errors.New("nothing to split in a one-server cluster")
		}
		shuffled := rotate(servers, s.Pick)
		minority, majority := shuffled[:(len(servers)-1)/2], shuffled[(len(servers)-1)/2:]
		if len(minority) == 0 {
			minority, majority = shuffled[:1], shuffled[1:]
		}
		return b.cut(t, rec, fmt.Sprintf("split %v | %v", minority, majority), lab.PartitionLinks(minority, majority))
	case Ring:
		order := rotate(servers, s.Pick)
		if s.Pick&1 == 1 {
			slices.Reverse(order)
		}
		return b.cut(t, rec, fmt.Sprintf("ring %v", order), lab.RingLinks(order))
	case KillContainerd:
		vm := pick(s, servers, 0)
		pid, err := t.KillContainerd(ctx, vm)
		rec.VMs, rec.Detail = []string{vm}, fmt.Sprintf("kill -9 %s's containerd (pid %d)", vm, pid)
		back := noNote(func(ctx context.Context) error { return t.ContainerdBack(ctx, vm, pid) })
		if err != nil {
			return nil, err
		}
		return back, nil
	case Transfer:
		var moves []string
		for i := range transfers {
			leader, err := leaderOr()
			if err != nil {
				return nil, err
			}
			if len(servers) < 2 {
				return nil, errors.New("no other server to transfer to")
			}
			to := pick(s, others(servers, leader), i)
			if err := t.TransferLeader(ctx, to); err != nil {
				rec.Detail = fmt.Sprintf("transfers %v, then %s → %s failed", moves, leader, to)
				return nil, err
			}
			moves = append(moves, leader+"→"+to)
			rec.VMs = append(rec.VMs, to)
		}
		rec.Detail = fmt.Sprintf("leadership moved %v", moves)
		return nil, nil
	case Corrupt:
		return corrupt(ctx, t, s, pick(s, servers, 0), rec)
	case DiskFull:
		vm := pick(s, servers, 0)
		rec.VMs, rec.Detail = []string{vm}, "filled the disk under "+vm+"'s data"
		free := func(ctx context.Context) (string, error) { return t.FreeDisk(ctx, vm) }
		what, err := t.FillDisk(ctx, vm)
		if what != "" {
			rec.Detail = fmt.Sprintf("filled the disk under %s's data (%s)", vm, what)
		}
		return free, err
	}
	return nil, fmt.Errorf("unknown fault %q", s.Kind)
}

// cut cuts links, recording the VMs involved.
func (b *Book) cut(t Target, rec *Record, detail string, links []lab.Link) (healFunc, error) {
	var vms []string
	for vm := range lab.CutPeers(links) {
		vms = append(vms, vm)
	}
	slices.Sort(vms)
	rec.VMs, rec.Detail = vms, detail
	heal := noNote(func(context.Context) error { return t.HealNetwork(vms...) })
	if err := t.CutLinks(links...); err != nil {
		return heal, err
	}
	return heal, nil
}

// rotate returns servers rotated by n.
func rotate(servers []string, n uint64) []string {
	k := int(n % uint64(len(servers)))
	return append(slices.Clone(servers[k:]), servers[:k]...)
}

// corrupt stops vm's server, damages its raft data and starts it again; the
// heal makes it a serving member again (Target.Rejoin).
func corrupt(ctx context.Context, t Target, s Step, vm string, rec *Record) (healFunc, error) {
	rec.VMs, rec.Detail = []string{vm}, "kill -9 "+vm+"'s skiff to damage its raft data"
	restart := noNote(func(ctx context.Context) error { return t.Restart(ctx, vm) })
	if err := t.Kill(ctx, vm); err != nil {
		return restart, err
	}
	what, err := t.CorruptData(ctx, vm, s.Pick)
	if err != nil {
		return restart, err // nothing damaged: a plain restart heals
	}
	rec.Detail = fmt.Sprintf("%s's skiff stopped, %s, started again", vm, what)
	rejoin := func(ctx context.Context) (string, error) { return t.Rejoin(ctx, vm) }
	outcome, err := t.Start(ctx, vm)
	if outcome != "" {
		rec.Outcome = "on restart: " + outcome
	}
	return rejoin, err
}
