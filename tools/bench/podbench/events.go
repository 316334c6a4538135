package podbench

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/nodes/podsync"
)

// reNetns finds the duration in a SandboxReady message, for example
// "pod network ready: IP 10.244.1.5 on veth sk1a2b3c (netns+veth 9.234ms)".
var reNetns = regexp.MustCompile(`\(netns\+veth ([^)\s]+)\)`)

// netnsTook parses the netns+veth duration of a SandboxReady message.
func netnsTook(msg string) (time.Duration, error) {
	m := reNetns.FindStringSubmatch(msg)
	if m == nil {
		return 0, fmt.Errorf("podbench: no netns+veth duration in SandboxReady message %q", msg)
	}
	d, err := time.ParseDuration(m[1])
	if err != nil || d < 0 {
		return 0, fmt.Errorf("podbench: netns+veth duration %q in SandboxReady message %q: not a duration", m[1], msg)
	}
	return d, nil
}

// eventTime is when ev happened, and whether that is precise (better than the second of
// firstTimestamp): eventTime (microseconds) if set, else the hex UnixNano suffix of the name
// that client-go's recorder gives every event ("<object>.<hex>"), accepted only when it lies
// within the second of firstTimestamp; else firstTimestamp, imprecise.
func eventTime(ev *corev1.Event) (time.Time, bool) {
	if !ev.EventTime.IsZero() {
		return ev.EventTime.Time, true
	}
	stamp := ev.FirstTimestamp.Time
	if stamp.IsZero() {
		stamp = ev.LastTimestamp.Time
	}
	if stamp.IsZero() {
		stamp = ev.CreationTimestamp.Time
	}
	if nt, ok := nameTime(ev.Name); ok && (stamp.IsZero() || !nt.Before(stamp.Add(-time.Second)) && nt.Before(stamp.Add(2*time.Second))) {
		return nt, true
	}
	return stamp, false
}

// nameTime decodes the hex UnixNano suffix of an event name.
func nameTime(name string) (time.Time, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(name[i+1:], 16, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// podEvents are what a pod's node reported about its start. A time is zero when the event has
// not arrived, or arrived with a time known only to the second (counted in imprecise).
type podEvents struct {
	sandbox, created, started time.Time
	netns                     time.Duration
	netnsOK                   bool
	seen                      map[string]bool // reasons that arrived
	pulled                    bool            // the image was pulled (not present)
	imprecise                 int
	badMessage                error
}

// complete says whether every event the breakdown needs has arrived.
func (e *podEvents) complete() bool {
	return e.seen[podsync.ReasonSandboxReady] && e.seen["Created"] && e.seen["Started"]
}

// add takes in one event about the pod; the first of each reason counts (a restarted
// container records Created and Started again).
func (e *podEvents) add(ev *corev1.Event) {
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	if ev.Reason == "Pulling" {
		e.pulled = true
	}
	if e.seen[ev.Reason] {
		return
	}
	e.seen[ev.Reason] = true
	t, precise := eventTime(ev)
	if !precise {
		e.imprecise++
		t = time.Time{}
	}
	switch ev.Reason {
	case podsync.ReasonSandboxReady:
		d, err := netnsTook(ev.Message)
		if err != nil {
			e.badMessage = err
			return
		}
		e.netns, e.netnsOK, e.sandbox = d, true, t
	case "Created":
		e.created = t
	case "Started":
		e.started = t
	}
}
