package fault

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseKinds(t *testing.T) {
	tests := []struct {
		in      string
		want    []Kind
		wantErr bool
	}{
		{"", Kinds, false},
		{"all", Kinds, false},
		{"split, ring,split", []Kind{Split, Ring}, false},
		{"kill-leader,nonsense", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseKinds(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("ParseKinds(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func steps(t *testing.T, seed uint64, kinds []Kind, n int) []Step {
	t.Helper()
	s, err := NewSchedule(seed, kinds, DefaultScheduleConfig())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Step, n)
	for i := range out {
		out[i] = s.Next()
	}
	return out
}

func TestScheduleIsSeededAndCoversEveryKind(t *testing.T) {
	a, b := steps(t, 42, Kinds, 3*len(Kinds)), steps(t, 42, Kinds, 3*len(Kinds))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave two schedules")
	}
	if c := steps(t, 43, Kinds, 3*len(Kinds)); reflect.DeepEqual(a, c) {
		t.Error("seeds 42 and 43 gave the same schedule")
	}
	cfg := DefaultScheduleConfig()
	for round := range 3 {
		var kinds []Kind
		for _, s := range a[round*len(Kinds) : (round+1)*len(Kinds)] {
			kinds = append(kinds, s.Kind)
			if s.Gap < cfg.MinGap || s.Gap > cfg.MaxGap || s.Hold < cfg.MinHold || s.Hold > cfg.MaxHold {
				t.Errorf("step %d: gap %s hold %s outside the bounds %+v", s.Seq, s.Gap, s.Hold, cfg)
			}
		}
		slices.Sort(kinds)
		want := slices.Clone(Kinds)
		slices.Sort(want)
		if !reflect.DeepEqual(kinds, want) {
			t.Errorf("round %d has kinds %v, want each once", round, kinds)
		}
	}
	for i, s := range a {
		if s.Seq != i+1 {
			t.Errorf("step %d has seq %d", i, s.Seq)
		}
	}
	if _, err := NewSchedule(1, nil, DefaultScheduleConfig()); err == nil {
		t.Error("a schedule without kinds was accepted")
	}
	if _, err := NewSchedule(1, Kinds, ScheduleConfig{MinHold: time.Second, MaxHold: 0}); err == nil {
		t.Error("a schedule with max < min was accepted")
	}
}

func clock() func() time.Duration {
	var n atomic.Int64
	return func() time.Duration { return time.Duration(n.Add(int64(time.Millisecond))) }
}

// TestEveryFaultIsHealed injects every kind (several picks each), heals
// some one by one and the rest with HealAll after the context ended, and
// requires the target to be clean and every record closed.
func TestEveryFaultIsHealed(t *testing.T) {
	m := NewMem(3)
	b := NewBook(m, clock())
	ctx, cancel := context.WithCancel(t.Context())
	var ids []int
	for _, s := range steps(t, 7, Kinds, 2*len(Kinds)) {
		id, err := b.Inject(ctx, s)
		if err != nil {
			t.Fatalf("inject %s: %v", s.Kind, err)
		}
		ids = append(ids, id)
		if s.Seq%3 == 0 {
			if err := b.Heal(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(b.OpenFaults()) == 0 || len(m.Dirty()) == 0 {
		t.Fatal("nothing left open before HealAll: the test proves nothing")
	}
	cancel()
	if err := b.HealAll(ctx); err != nil {
		t.Fatalf("heal all: %v", err)
	}
	if d := m.Dirty(); len(d) > 0 {
		t.Errorf("left unhealed: %v", d)
	}
	if open := b.OpenFaults(); len(open) > 0 {
		t.Errorf("records still open: %+v", open)
	}
	recs := b.Records()
	if len(recs) != len(ids) {
		t.Fatalf("%d records for %d faults", len(recs), len(ids))
	}
	for _, r := range recs {
		if r.Healed < r.Injected || r.Injected == 0 || len(r.VMs) == 0 || r.Detail == "" {
			t.Errorf("record %+v: want injected ≤ healed, VMs and a detail", r)
		}
	}
	// Healing again is a no-op.
	n := len(m.Log)
	if err := b.HealAll(ctx); err != nil || len(m.Log) != n {
		t.Errorf("a second HealAll did something: %v, %v", err, m.Log[n:])
	}
}

func TestFaultsPickTheirVMs(t *testing.T) {
	tests := []struct {
		kind Kind
		want func(m *Mem, r Record) string // "" if fine
	}{
		{KillLeader, func(m *Mem, r Record) string {
			if !reflect.DeepEqual(r.VMs, []string{"vm1"}) || !slices.Contains(m.Log, "kill vm1") {
				return "did not kill the leader vm1"
			}
			return ""
		}},
		{KillFollower, func(m *Mem, r Record) string {
			if len(r.VMs) != 1 || r.VMs[0] == "vm1" {
				return "killed the leader"
			}
			return ""
		}},
		{IsolateLeader, func(m *Mem, r Record) string {
			if !slices.Contains(m.Log, "isolate vm1") {
				return "did not isolate the leader"
			}
			return ""
		}},
		{Split, func(m *Mem, r Record) string {
			if len(r.VMs) != 3 || !strings.Contains(r.Detail, "|") {
				return "not a split of three"
			}
			return ""
		}},
		{Ring, func(m *Mem, r Record) string {
			if len(r.VMs) != 2 { // three servers: one link cut
				return "a ring of three must cut one link"
			}
			return ""
		}},
		{Transfer, func(m *Mem, r Record) string {
			if n := strings.Count(strings.Join(m.Log, ";"), "transfer "); n != transfers {
				return "made the wrong number of transfers"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			m := NewMem(3)
			b := NewBook(m, clock())
			id, err := b.Inject(t.Context(), Step{Seq: 1, Kind: tt.kind, Pick: 5})
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.want(m, b.Records()[id]); msg != "" {
				t.Errorf("%s: %s (record %+v, log %v)", tt.kind, msg, b.Records()[id], m.Log)
			}
			if err := b.HealAll(t.Context()); err != nil {
				t.Fatal(err)
			}
			if d := m.Dirty(); len(d) > 0 {
				t.Errorf("left unhealed: %v", d)
			}
		})
	}
}

// TestFailedInjectionIsUndone: a fault whose injection fails half-way is
// healed at once and recorded closed with its error.
func TestFailedInjectionIsUndone(t *testing.T) {
	m := NewMem(3)
	boom := errors.New("boom")
	m.Fail["cut"] = boom
	b := NewBook(m, clock())
	_, err := b.Inject(t.Context(), Step{Seq: 1, Kind: Split})
	if !errors.Is(err, boom) {
		t.Fatalf("inject: %v, want boom", err)
	}
	r := b.Records()[0]
	if r.Open() || r.Err == "" || !slices.ContainsFunc(m.Log, func(s string) bool { return strings.HasPrefix(s, "heal") }) {
		t.Errorf("failed split not healed or not recorded: %+v, log %v", r, m.Log)
	}
	// A heal that fails is reported and the record closed anyway.
	delete(m.Fail, "cut")
	m.Fail["resume"] = boom
	id, err := b.Inject(t.Context(), Step{Seq: 2, Kind: Pause})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.HealAll(t.Context()); !errors.Is(err, boom) {
		t.Errorf("heal all: %v, want boom", err)
	}
	if r := b.Records()[id]; r.Open() || r.HealErr == "" {
		t.Errorf("record after a failed heal: %+v", r)
	}
}

// TestDataFaultsBookkeeping: damaged raft data and a full disk are
// recorded with how the server took them, and healed by the right step.
func TestDataFaultsBookkeeping(t *testing.T) {
	tests := []struct {
		name          string
		kind          Kind
		corruptServes bool
		diskFullStops bool
		failOp        string
		wantLog       []string // calls, in order
		wantOutcome   []string // substrings of the record's outcome
		wantErr       bool
	}{
		{name: "corrupt member refuses, rejoins wiped", kind: Corrupt,
			wantLog:     []string{"kill vm2", "corrupt vm2", "start vm2", "rejoin vm2"},
			wantOutcome: []string{"on restart: exited:", "raft data wiped, rejoined"}},
		{name: "corrupt member recovers from its peers", kind: Corrupt, corruptServes: true,
			wantLog:     []string{"kill vm2", "corrupt vm2", "start vm2", "rejoin vm2"},
			wantOutcome: []string{"on restart: serves", "serving"}},
		{name: "damage fails: plain restart, no wipe", kind: Corrupt, failOp: "corrupt",
			wantLog: []string{"kill vm2", "corrupt vm2", "restart vm2"}, wantErr: true},
		{name: "full disk, server survives", kind: DiskFull,
			wantLog: []string{"fill vm2", "free vm2"}, wantOutcome: []string{"kept running"}},
		{name: "full disk stops the server, free restarts it", kind: DiskFull, diskFullStops: true,
			wantLog: []string{"fill vm2", "free vm2"}, wantOutcome: []string{"restarted"}},
		{name: "fill fails: freed at once", kind: DiskFull, failOp: "fill",
			wantLog: []string{"fill vm2", "free vm2"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem(3)
			m.CorruptServes, m.DiskFullStops = tt.corruptServes, tt.diskFullStops
			if tt.failOp != "" {
				m.Fail[tt.failOp] = errors.New("boom")
			}
			b := NewBook(m, clock())
			id, err := b.Inject(t.Context(), Step{Seq: 1, Kind: tt.kind, Pick: 1}) // Pick 1 of vm1..vm3: vm2
			if (err != nil) != tt.wantErr {
				t.Fatalf("inject: %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr {
				if len(b.OpenFaults()) != 1 || (len(m.Dirty()) == 0 && !tt.corruptServes) {
					t.Fatalf("fault not open after injection: %v, dirty %v", b.OpenFaults(), m.Dirty())
				}
				if err := b.Heal(t.Context(), id); err != nil {
					t.Fatal(err)
				}
			}
			if d := m.Dirty(); len(d) > 0 {
				t.Errorf("left unhealed: %v", d)
			}
			r := b.Records()[id]
			if r.Open() || !reflect.DeepEqual(r.VMs, []string{"vm2"}) || r.Detail == "" {
				t.Errorf("record %+v: want closed, on vm2, with a detail", r)
			}
			if !reflect.DeepEqual(m.Log, tt.wantLog) {
				t.Errorf("calls %v, want %v", m.Log, tt.wantLog)
			}
			for _, w := range tt.wantOutcome {
				if !strings.Contains(r.Outcome, w) {
					t.Errorf("outcome %q lacks %q", r.Outcome, w)
				}
			}
		})
	}
}
