package membership

import (
	"slices"
	"testing"
	"time"
)

func TestPromotions(t *testing.T) {
	cfg := AutopilotConfig{StabilizationTime: 10 * time.Second, MaxLagEntries: 100, LastContactThreshold: 500 * time.Millisecond}
	leader := ServerHealth{Name: "a", Status: StatusAlive, Leader: true, LastIndex: 1000, HealthyFor: time.Hour}
	healthy := func(name string) ServerHealth {
		return ServerHealth{Name: name, Status: StatusAlive, LastContact: 100 * time.Millisecond, LastIndex: 990, HealthyFor: 11 * time.Second}
	}
	with := func(s ServerHealth, f func(*ServerHealth)) ServerHealth { f(&s); return s }
	tests := []struct {
		name    string
		servers []ServerHealth
		voters  []string
		want    []string
	}{
		{"stable non-voter promoted", []ServerHealth{leader, healthy("b"), healthy("d")}, []string{"a", "b", "c"}, []string{"d"}},
		{"several, sorted", []ServerHealth{leader, healthy("e"), healthy("d")}, []string{"a"}, []string{"d", "e"}},
		{"voters not returned", []ServerHealth{leader, healthy("b")}, []string{"a", "b"}, nil},
		{"not yet stable", []ServerHealth{leader, with(healthy("d"), func(s *ServerHealth) { s.HealthyFor = 9 * time.Second })}, []string{"a"}, nil},
		{"exactly stable", []ServerHealth{leader, with(healthy("d"), func(s *ServerHealth) { s.HealthyFor = 10 * time.Second })}, []string{"a"}, []string{"d"}},
		{"lagging", []ServerHealth{leader, with(healthy("d"), func(s *ServerHealth) { s.LastIndex = 899 })}, []string{"a"}, nil},
		{"lag at the limit", []ServerHealth{leader, with(healthy("d"), func(s *ServerHealth) { s.LastIndex = 900 })}, []string{"a"}, []string{"d"}},
		{"stale contact", []ServerHealth{leader, with(healthy("d"), func(s *ServerHealth) { s.LastContact = 600 * time.Millisecond })}, []string{"a"}, nil},
		{"never contacted", []ServerHealth{leader, with(healthy("d"), func(s *ServerHealth) { s.LastContact = -1 })}, []string{"a"}, nil},
		{"not alive in serf", []ServerHealth{leader, with(healthy("d"), func(s *ServerHealth) { s.Status = StatusFailed })}, []string{"a"}, nil},
		{"no leader entry", []ServerHealth{healthy("d")}, []string{"a"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Promotions(tt.servers, tt.voters, cfg); !slices.Equal(got, tt.want) {
				t.Fatalf("Promotions = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStabilityTracker(t *testing.T) {
	cfg := AutopilotConfig{StabilizationTime: 10 * time.Second, MaxLagEntries: 10, LastContactThreshold: time.Second}
	t0 := time.Unix(1000, 0)
	leader := ServerHealth{Name: "a", Status: StatusAlive, Leader: true, LastIndex: 50}
	d := ServerHealth{Name: "d", Status: StatusAlive, LastContact: 10 * time.Millisecond, LastIndex: 50}
	var tr StabilityTracker

	steps := []struct {
		at     time.Duration
		d      ServerHealth
		wantD  time.Duration
		wantPr []string
	}{
		{0, d, 0, nil},
		{5 * time.Second, d, 5 * time.Second, nil},
		{6 * time.Second, func() ServerHealth { x := d; x.LastContact = 2 * time.Second; return x }(), 0, nil}, // unhealthy: resets
		{7 * time.Second, d, 0, nil},
		{16 * time.Second, d, 9 * time.Second, nil},
		{17 * time.Second, d, 10 * time.Second, []string{"d"}},
	}
	for i, s := range steps {
		got := tr.Observe(t0.Add(s.at), []ServerHealth{leader, s.d}, cfg)
		if got[1].HealthyFor != s.wantD {
			t.Fatalf("step %d: HealthyFor = %v, want %v", i, got[1].HealthyFor, s.wantD)
		}
		if pr := Promotions(got, []string{"a"}, cfg); !slices.Equal(pr, s.wantPr) {
			t.Fatalf("step %d: Promotions = %v, want %v", i, pr, s.wantPr)
		}
	}
	tr.Observe(t0.Add(18*time.Second), []ServerHealth{leader}, cfg)
	if got := tr.Observe(t0.Add(19*time.Second), []ServerHealth{leader, d}, cfg); got[1].HealthyFor != 0 {
		t.Fatalf("a forgotten server kept its history: HealthyFor = %v", got[1].HealthyFor)
	}
}

func TestDeadServers(t *testing.T) {
	now := time.Unix(10_000, 0)
	after := time.Minute
	srv := func(name string, st Status, ago time.Duration) Member {
		m := server(name, st, nil)
		m.Since = now.Add(-ago)
		return m
	}
	tests := []struct {
		name    string
		members []Member
		voters  []string
		want    []string
	}{
		{"all alive", []Member{srv("a", StatusAlive, time.Hour), srv("b", StatusAlive, time.Hour), srv("c", StatusAlive, time.Hour)}, []string{"a", "b", "c"}, nil},
		{"3 voters, one failed long: removed, 2 stay (quorum of 3)", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0), srv("c", StatusFailed, 2*time.Minute)}, []string{"a", "b", "c"}, []string{"c"}},
		{"failed but not long enough", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0), srv("c", StatusFailed, 59*time.Second)}, []string{"a", "b", "c"}, nil},
		{"failed exactly removeAfter", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0), srv("c", StatusFailed, time.Minute)}, []string{"a", "b", "c"}, []string{"c"}},
		{"unknown failure time is not due", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0), func() Member { m := srv("c", StatusFailed, 0); m.Since = time.Time{}; return m }()}, []string{"a", "b", "c"}, nil},
		{"3 voters, two failed: quorum lost, nothing", []Member{srv("a", StatusAlive, 0), srv("b", StatusFailed, time.Hour), srv("c", StatusFailed, time.Hour)}, []string{"a", "b", "c"}, nil},
		{"2 voters, one failed: would drop below quorum", []Member{srv("a", StatusAlive, 0), srv("b", StatusFailed, time.Hour)}, []string{"a", "b"}, nil},
		{"4 voters, one failed", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0), srv("c", StatusAlive, 0), srv("d", StatusFailed, time.Hour)}, []string{"a", "b", "c", "d"}, []string{"d"}},
		{"5 voters, three failed: quorum lost", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0), srv("c", StatusFailed, time.Hour), srv("d", StatusFailed, time.Hour), srv("e", StatusFailed, time.Hour)}, []string{"a", "b", "c", "d", "e"}, nil},
		{"5 voters, two failed: both", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0), srv("c", StatusAlive, 0), srv("d", StatusFailed, time.Hour), srv("e", StatusFailed, 2*time.Hour)}, []string{"a", "b", "c", "d", "e"}, []string{"d", "e"}},
		{"6 voters, two failed: both (4 alive are a quorum of 6)", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0), srv("c", StatusAlive, 0), srv("d", StatusAlive, 0), srv("e", StatusFailed, time.Hour), srv("f", StatusFailed, 2*time.Hour)}, []string{"a", "b", "c", "d", "e", "f"}, []string{"e", "f"}},
		{"6 voters, three failed: quorum lost", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0), srv("c", StatusAlive, 0), srv("d", StatusFailed, time.Hour), srv("e", StatusFailed, time.Hour), srv("f", StatusFailed, 2*time.Hour)}, []string{"a", "b", "c", "d", "e", "f"}, nil},
		{"left voter removed at once", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0), srv("c", StatusAlive, 0), srv("d", StatusLeft, 0)}, []string{"a", "b", "c", "d"}, []string{"d"}},
		{"failed non-voter always removed", []Member{srv("a", StatusAlive, 0), srv("b", StatusFailed, time.Hour), srv("c", StatusFailed, time.Hour), srv("x", StatusFailed, time.Hour)}, []string{"a", "b", "c"}, []string{"x"}},
		{"leaving is not dead", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0), srv("c", StatusLeaving, time.Hour)}, []string{"a", "b", "c"}, nil},
		{"nodes ignored", []Member{srv("a", StatusAlive, 0), func() Member { m := node("n1", StatusFailed); m.Since = now.Add(-time.Hour); return m }()}, []string{"a"}, nil},
		{"voter missing from members left alone", []Member{srv("a", StatusAlive, 0), srv("b", StatusAlive, 0)}, []string{"a", "b", "c"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DeadServers(tt.members, tt.voters, now, after); !slices.Equal(got, tt.want) {
				t.Fatalf("DeadServers = %v, want %v", got, tt.want)
			}
		})
	}
}
