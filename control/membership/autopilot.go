package membership

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AutopilotConfig says when a non-voting server is healthy enough to be
// promoted to voter, as Consul's autopilot does.
type AutopilotConfig struct {
	// StabilizationTime is how long a server must have been continuously
	// healthy before it is promoted.
	StabilizationTime time.Duration
	// MaxLagEntries is how many log entries a server may trail the
	// leader's last index and still be healthy.
	MaxLagEntries uint64
	// LastContactThreshold is how long ago the leader may last have heard
	// from a server for it to be healthy.
	LastContactThreshold time.Duration
}

// DefaultAutopilotConfig returns Consul's defaults, scaled to a lab.
func DefaultAutopilotConfig() AutopilotConfig {
	return AutopilotConfig{
		StabilizationTime:    10 * time.Second,
		MaxLagEntries:        250,
		LastContactThreshold: 500 * time.Millisecond,
	}
}

// Validate reports the first problem with c.
func (c AutopilotConfig) Validate() error {
	if c.StabilizationTime < 0 {
		return fmt.Errorf("membership: autopilot: StabilizationTime %v is negative", c.StabilizationTime)
	}
	if c.LastContactThreshold <= 0 {
		return errors.New("membership: autopilot: LastContactThreshold must be positive")
	}
	return nil
}

// ServerHealth is the leader's view of one server, gathered by the caller
// from raft (last contact, last index) and Serf (status).
type ServerHealth struct {
	Name   string
	Status Status // Serf status
	Leader bool   // this is the leader's own entry; its LastIndex is the reference
	// LastContact is how long ago the leader last heard from the server
	// (0 for the leader itself); negative means never.
	LastContact time.Duration
	LastIndex   uint64
	// HealthyFor is how long the server has been continuously healthy
	// (see Healthy and StabilityTracker); 0 if it is not healthy now.
	HealthyFor time.Duration
}

// Healthy reports whether s is healthy against the leader's last index:
// alive in Serf, heard from recently, and not lagging too far.
func Healthy(s ServerHealth, leaderIndex uint64, cfg AutopilotConfig) bool {
	if s.Status != StatusAlive {
		return false
	}
	if s.Leader {
		return true
	}
	if s.LastContact < 0 || s.LastContact > cfg.LastContactThreshold {
		return false
	}
	return s.LastIndex+cfg.MaxLagEntries >= leaderIndex
}

// Promotions returns, sorted, the non-voters among servers (those not in
// voters) that are healthy now and have been for at least
// cfg.StabilizationTime. Without the leader's entry in servers nothing is
// promoted, since lag cannot be judged.
func Promotions(servers []ServerHealth, voters []string, cfg AutopilotConfig) []string {
	leaderIndex, ok := uint64(0), false
	for _, s := range servers {
		if s.Leader {
			leaderIndex, ok = s.LastIndex, true
		}
	}
	if !ok {
		return nil
	}
	var out []string
	for _, s := range servers {
		if slices.Contains(voters, s.Name) || s.Leader {
			continue
		}
		if Healthy(s, leaderIndex, cfg) && s.HealthyFor >= cfg.StabilizationTime {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	return out
}

// StabilityTracker remembers since when each server has been continuously
// healthy, to fill ServerHealth.HealthyFor. The zero value is ready; it is
// not safe for concurrent use (the leader's autopilot loop owns it).
type StabilityTracker struct {
	since map[string]time.Time
}

// Observe fills HealthyFor in servers (a copy is returned) from what was
// observed before, judging health with Healthy at time now. Servers no
// longer listed are forgotten.
func (t *StabilityTracker) Observe(now time.Time, servers []ServerHealth, cfg AutopilotConfig) []ServerHealth {
	if t.since == nil {
		t.since = make(map[string]time.Time)
	}
	var leaderIndex uint64
	for _, s := range servers {
		if s.Leader {
			leaderIndex = s.LastIndex
		}
	}
	out := slices.Clone(servers)
	seen := make(map[string]bool, len(out))
	for i := range out {
		s := &out[i]
		seen[s.Name] = true
		if !Healthy(*s, leaderIndex, cfg) {
			delete(t.since, s.Name)
			s.HealthyFor = 0
			continue
		}
		since, ok := t.since[s.Name]
		if !ok {
			since = now
			t.since[s.Name] = now
		}
		s.HealthyFor = now.Sub(since)
	}
	for name := range t.since {
		if !seen[name] {
			delete(t.since, name)
		}
	}
	return out
}

// DeadServers returns, sorted by name, the servers to remove from raft:
// server members that left (at once) or have been failed for at least
// removeAfter (by Member.Since), never so many voters that the remaining
// voters fall below the quorum of the current configuration, and none at
// all if the alive voters are not a quorum (the removal could not commit).
// Failed servers that are not voters are always returned once due. Voters
// not present in members are left alone: the caller removes those
// explicitly (`skiff cluster remove`).
func DeadServers(members []Member, voters []string, now time.Time, removeAfter time.Duration) []string {
	byName := make(map[string]Member, len(members))
	for _, m := range members {
		if m.Role == RoleServer {
			byName[m.Name] = m
		}
	}
	due := func(m Member) bool {
		switch m.Status {
		case StatusLeft:
			return true
		case StatusFailed:
			return !m.Since.IsZero() && now.Sub(m.Since) >= removeAfter
		}
		return false
	}

	var out []string
	for _, m := range byName {
		if !slices.Contains(voters, m.Name) && due(m) {
			out = append(out, m.Name)
		}
	}

	quorum := len(voters)/2 + 1
	alive := 0
	var dueVoters []Member
	for _, v := range voters {
		m, ok := byName[v]
		if !ok {
			continue
		}
		if m.Status == StatusAlive {
			alive++
		} else if due(m) {
			dueVoters = append(dueVoters, m)
		}
	}
	if alive >= quorum {
		// Longest gone first.
		slices.SortFunc(dueVoters, func(a, b Member) int {
			if c := a.Since.Compare(b.Since); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
		for _, m := range dueVoters[:min(len(dueVoters), len(voters)-quorum)] {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}
