package podbench

import "time"

// sample is one pod's start, as the client and the pod's node saw it.
type sample struct {
	name, node string
	create     time.Time // client clock, just before the create request
	ready      time.Time // client clock, when the watch delivered Ready=True
	ev         podEvents
}

// A measure is one duration of a pod's start; ok is false where an event is missing.
type measure struct {
	name, help string
	of         func(s *sample) (time.Duration, bool)
}

// span is b−a when both are known.
func span(a, b time.Time) (time.Duration, bool) {
	if a.IsZero() || b.IsZero() {
		return 0, false
	}
	return b.Sub(a), true
}

var (
	createToReady = measure{"create->ready", "create request sent to Ready=True seen by the watch",
		func(s *sample) (time.Duration, bool) { return span(s.create, s.ready) }}
	createToSandbox = measure{"create->sandbox", "API create, scheduling, node pick-up, netns+veth",
		func(s *sample) (time.Duration, bool) { return span(s.create, s.ev.sandbox) }}
	netnsVeth = measure{"netns+veth", "the node's SandboxReady message",
		func(s *sample) (time.Duration, bool) { return s.ev.netns, s.ev.netnsOK }}
	sandboxToStarted = measure{"sandbox->started", "image check, container create, task create and start",
		func(s *sample) (time.Duration, bool) { return span(s.ev.sandbox, s.ev.started) }}
	containerStart = measure{"container start", "Started event − Created event: runc task create and start",
		func(s *sample) (time.Duration, bool) { return span(s.ev.created, s.ev.started) }}
	startedToReady = measure{"started->ready", "status write and watch delivery",
		func(s *sample) (time.Duration, bool) { return span(s.ev.started, s.ready) }}

	// measures are the report's distributions, in order.
	measures = []measure{createToReady, createToSandbox, netnsVeth, sandboxToStarted, containerStart, startedToReady}
)

// distOf is m's distribution over samples, and how many samples lack it.
func distOf(m measure, samples []sample) (dist, int) {
	var lat []time.Duration
	missing := 0
	for i := range samples {
		if d, ok := m.of(&samples[i]); ok {
			lat = append(lat, d)
		} else {
			missing++
		}
	}
	return newDist(lat), missing
}
