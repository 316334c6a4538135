package probe

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Kind is which of a container's probes.
type Kind int

// The probe kinds.
const (
	Readiness Kind = iota
	Liveness
	Startup
)

func (k Kind) String() string {
	switch k {
	case Liveness:
		return "Liveness"
	case Startup:
		return "Startup"
	}
	return "Readiness"
}

// Kubernetes' defaults for a probe's fields left zero.
const (
	DefaultPeriod           = 10 * time.Second
	DefaultFailureThreshold = 3
	DefaultSuccessThreshold = 1
)

// Report receives a probe's verdict each time it changes, and each failed
// check with its reason (for the Unhealthy event): changed says whether the
// verdict changed.
type Report func(kind Kind, verdict Result, changed bool, message string)

// Set runs the probes of one container instance, from when it started until
// Stop. Liveness and readiness wait until the startup probe has succeeded.
type Set struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	ready    bool
	started  bool
	startedC chan struct{}
}

// NewSet starts c's probes against target; startedAt is when the container
// started (initial delays count from it). report is called from the probe
// goroutines.
func NewSet(c *corev1.Container, target Target, startedAt time.Time, report Report) *Set {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Set{cancel: cancel, ready: c.ReadinessProbe == nil, started: c.StartupProbe == nil, startedC: make(chan struct{})}
	if s.started {
		close(s.startedC)
	}
	wrap := func(kind Kind) Report {
		return func(k Kind, verdict Result, changed bool, msg string) {
			if changed {
				s.mu.Lock()
				switch kind {
				case Readiness:
					s.ready = verdict == Success
				case Startup:
					if verdict == Success && !s.started {
						s.started = true
						close(s.startedC)
					}
				}
				s.mu.Unlock()
			}
			report(k, verdict, changed, msg)
		}
	}
	start := func(kind Kind, p *corev1.Probe, gated bool) {
		if p == nil {
			return
		}
		s.wg.Go(func() {
			if gated {
				select {
				case <-s.startedC:
				case <-ctx.Done():
					return
				}
			}
			run(ctx, kind, p, target, startedAt, wrap(kind))
		})
	}
	start(Startup, c.StartupProbe, false)
	start(Liveness, c.LivenessProbe, true)
	start(Readiness, c.ReadinessProbe, true)
	return s
}

// Ready is the readiness verdict: true without a readiness probe, else false
// until it succeeds.
func (s *Set) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready && s.started
}

// Started is the startup verdict: true without a startup probe.
func (s *Set) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// Stop ends the probes and waits for them.
func (s *Set) Stop() {
	s.cancel()
	s.wg.Wait()
}

// run probes until ctx ends. The verdict starts at Failure for readiness
// and Success for liveness and startup (a startup probe's Success is only
// reported when a check succeeds).
func run(ctx context.Context, kind Kind, p *corev1.Probe, target Target, startedAt time.Time, report Report) {
	period := time.Duration(p.PeriodSeconds) * time.Second
	if period <= 0 {
		period = DefaultPeriod
	}
	failures, successes := int(p.FailureThreshold), int(p.SuccessThreshold)
	if failures <= 0 {
		failures = DefaultFailureThreshold
	}
	if successes <= 0 || kind != Readiness {
		successes = DefaultSuccessThreshold
	}
	verdict := Success
	if kind == Readiness {
		verdict = Failure
	}
	if kind == Startup {
		verdict = Unknown
	}
	var last Result
	var run int
	if d := time.Until(startedAt.Add(time.Duration(p.InitialDelaySeconds) * time.Second)); d > 0 {
		if !sleep(ctx, d) {
			return
		}
	}
	for {
		r, msg := Check(ctx, p, target)
		if ctx.Err() != nil {
			return
		}
		if r == last {
			run++
		} else {
			last, run = r, 1
		}
		need := successes
		if r == Failure {
			need = failures
		}
		changed := r != verdict && run >= need
		if changed {
			verdict = r
		}
		if changed || r == Failure {
			report(kind, r, changed, msg)
		}
		if kind == Startup && verdict == Success {
			return // a startup probe stops once it has succeeded
		}
		if !sleep(ctx, period) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
