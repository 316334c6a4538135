package fault

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Step is one scheduled fault.
type Step struct {
	Seq  int           `json:"seq"`
	Kind Kind          `json:"kind"`
	Gap  time.Duration `json:"gap"`  // quiet time before the fault
	Hold time.Duration `json:"hold"` // how long the fault stays before it is healed
	// Pick chooses among the candidate VMs (modulo their number), so a
	// step picks the same VMs whenever the cluster looks the same.
	Pick uint64 `json:"pick"`
}

// ScheduleConfig bounds the random parts of a schedule.
type ScheduleConfig struct {
	MinGap, MaxGap   time.Duration
	MinHold, MaxHold time.Duration
}

// DefaultScheduleConfig waits 2–5 s between faults and holds each 4–10 s.
func DefaultScheduleConfig() ScheduleConfig {
	return ScheduleConfig{MinGap: 2 * time.Second, MaxGap: 5 * time.Second, MinHold: 4 * time.Second, MaxHold: 10 * time.Second}
}

// Validate reports bounds a schedule cannot use.
func (c ScheduleConfig) Validate() error {
	if c.MinGap < 0 || c.MaxGap < c.MinGap || c.MinHold <= 0 || c.MaxHold < c.MinHold {
		return fmt.Errorf("fault: schedule bounds gap %s–%s hold %s–%s: want 0 ≤ min ≤ max and a positive hold", c.MinGap, c.MaxGap, c.MinHold, c.MaxHold)
	}
	return nil
}

// Schedule yields the steps of a run: the kinds in rounds, each round in a
// seeded random order (so a short run still meets every kind), with seeded
// gaps, holds and picks. The same seed, kinds and bounds give the same steps.
type Schedule struct {
	cfg   ScheduleConfig
	kinds []Kind
	rng   *rand.Rand
	round []Kind
	seq   int
}

// NewSchedule returns the schedule of seed over kinds.
func NewSchedule(seed uint64, kinds []Kind, cfg ScheduleConfig) (*Schedule, error) {
	if len(kinds) == 0 {
		return nil, errors.New("fault: a schedule needs at least one kind")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Schedule{cfg: cfg, kinds: append([]Kind(nil), kinds...), rng: rand.New(rand.NewPCG(seed, 0x6368616f73))}, nil
}

// Next returns the next step.
func (s *Schedule) Next() Step {
	if len(s.round) == 0 {
		s.round = append([]Kind(nil), s.kinds...)
		s.rng.Shuffle(len(s.round), func(i, j int) { s.round[i], s.round[j] = s.round[j], s.round[i] })
	}
	k := s.round[0]
	s.round = s.round[1:]
	s.seq++
	return Step{
		Seq:  s.seq,
		Kind: k,
		Gap:  s.between(s.cfg.MinGap, s.cfg.MaxGap),
		Hold: s.between(s.cfg.MinHold, s.cfg.MaxHold),
		Pick: s.rng.Uint64(),
	}
}

func (s *Schedule) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1)).Round(time.Millisecond)
}
