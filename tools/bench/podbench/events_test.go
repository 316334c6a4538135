package podbench

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/nodes/podsync"
	"github.com/skiff-sh/skiff/tools/trace"
)

func TestNetnsTook(t *testing.T) {
	for _, tc := range []struct {
		msg     string
		want    time.Duration
		wantErr bool
	}{
		{"pod network ready: IP 10.244.1.5 on veth sk1a2b3c (netns+veth 9.2ms)", 9200 * time.Microsecond, false},
		{"pod network ready: IP 10.244.1.5 on veth sk1a2b3c (netns+veth 9.234567ms)", 9234567 * time.Nanosecond, false},
		{"pod network ready: IP 10.244.0.7 on veth skffee01 (netns+veth 812µs)", 812 * time.Microsecond, false},
		{"pod network ready: IP 10.244.0.7 on veth skffee01 (netns+veth 1.5s)", 1500 * time.Millisecond, false},
		{"pod network ready: IP 10.244.0.7 on veth skffee01 (netns+veth 0s)", 0, false},
		// podsync's own wording (worker.go), built the way it builds it.
		{fmt.Sprintf("pod network ready: IP %s on veth %s (netns+veth %s)", "10.244.2.9", "sk00aa11", (3*time.Millisecond + 412*time.Microsecond).Round(time.Microsecond)), 3412 * time.Microsecond, false},
		// The format tools/trace documents for writers and readers.
		{trace.SandboxReadyMessage("10.244.1.5", "skabc", 12345*time.Microsecond), 12 * time.Millisecond, false},
		{"pod network ready: IP 10.244.1.5 on veth sk1a2b3c", 0, true},
		{"pod network ready: IP 10.244.1.5 on veth sk1a2b3c (netns+veth soon)", 0, true},
		{"", 0, true},
	} {
		got, err := netnsTook(tc.msg)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("netnsTook(%q) = %v, %v; want %v, error %t", tc.msg, got, err, tc.want, tc.wantErr)
		}
	}
}

// event is a core/v1 Event as client-go's recorder names it: "<pod>.<hex UnixNano>", with
// firstTimestamp the same moment (whole seconds on the wire).
func event(pod, reason, msg string, at time.Time) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod, at.UnixNano())},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod},
		Reason:         reason, Message: msg,
		FirstTimestamp: metav1.NewTime(at.Truncate(time.Second)),
	}
}

func TestEventTime(t *testing.T) {
	at := time.Date(2025, 11, 28, 12, 0, 7, 123456789, time.UTC)
	micro := &corev1.Event{EventTime: metav1.NewMicroTime(at.Truncate(time.Microsecond)),
		FirstTimestamp: metav1.NewTime(at.Add(-time.Hour))}
	noSuffix := event("p", "Started", "", at)
	noSuffix.Name = "p"
	farOff := event("p", "Started", "", at)
	farOff.FirstTimestamp = metav1.NewTime(at.Add(-time.Minute).Truncate(time.Second))
	for _, tc := range []struct {
		name        string
		ev          *corev1.Event
		want        time.Time
		wantPrecise bool
	}{
		{"name suffix", event("r1-p001", "Started", "", at), at, true},
		{"dotted pod name", event("a.b.c", "Started", "", at), at, true},
		{"eventTime first", micro, at.Truncate(time.Microsecond), true},
		{"no suffix", noSuffix, at.Truncate(time.Second), false},
		{"suffix disagrees with firstTimestamp", farOff, at.Add(-time.Minute).Truncate(time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, precise := eventTime(tc.ev)
			if !got.Equal(tc.want) || precise != tc.wantPrecise {
				t.Errorf("eventTime = %v, %t; want %v, %t", got, precise, tc.want, tc.wantPrecise)
			}
		})
	}
}

func TestPodEvents(t *testing.T) {
	t0 := time.Date(2025, 11, 28, 12, 0, 0, 0, time.UTC)
	sandboxMsg := "pod network ready: IP 10.244.1.5 on veth sk1 (netns+veth 9.2ms)"
	var e podEvents
	steps := []struct {
		ev           *corev1.Event
		wantComplete bool
	}{
		{event("p", "Scheduled", "Successfully assigned ns/p to n1", t0), false},
		{event("p", podsync.ReasonSandboxReady, sandboxMsg, t0.Add(300*time.Millisecond)), false},
		{event("p", "Pulled", `Container image "x" already present on machine`, t0.Add(310*time.Millisecond)), false},
		{event("p", "Created", "Created container: hello", t0.Add(340*time.Millisecond)), false},
		{event("p", "Started", "Started container hello", t0.Add(460*time.Millisecond)), true},
		// A restart later: the first Created/Started count.
		{event("p", "Created", "Created container: hello", t0.Add(5*time.Second)), true},
		{event("p", "Started", "Started container hello", t0.Add(6*time.Second)), true},
	}
	for i, s := range steps {
		e.add(s.ev)
		if got := e.complete(); got != s.wantComplete {
			t.Fatalf("after event %d (%s): complete = %t, want %t", i, s.ev.Reason, got, s.wantComplete)
		}
	}
	if !e.netnsOK || e.netns != 9200*time.Microsecond {
		t.Errorf("netns = %v (ok %t), want 9.2ms", e.netns, e.netnsOK)
	}
	s := sample{create: t0.Add(-100 * time.Millisecond), ready: t0.Add(500 * time.Millisecond), ev: e}
	for _, tc := range []struct {
		m    measure
		want time.Duration
	}{
		{createToReady, 600 * time.Millisecond},
		{createToSandbox, 400 * time.Millisecond},
		{netnsVeth, 9200 * time.Microsecond},
		{sandboxToStarted, 160 * time.Millisecond},
		{containerStart, 120 * time.Millisecond},
		{startedToReady, 40 * time.Millisecond},
	} {
		got, ok := tc.m.of(&s)
		if !ok || got != tc.want {
			t.Errorf("%s = %v, %t; want %v", tc.m.name, got, ok, tc.want)
		}
	}
	if e.pulled || e.imprecise != 0 || e.badMessage != nil {
		t.Errorf("pulled %t, imprecise %d, bad message %v; want none", e.pulled, e.imprecise, e.badMessage)
	}

	// A pull, an imprecise Started and a garbled SandboxReady message.
	var f podEvents
	f.add(event("q", "Pulling", `Pulling image "x"`, t0))
	bad := event("q", podsync.ReasonSandboxReady, "pod network ready", t0)
	f.add(bad)
	started := event("q", "Started", "", t0)
	started.Name = "q.started"
	f.add(started)
	f.add(event("q", "Created", "", t0))
	if !f.pulled || f.imprecise != 1 || f.badMessage == nil || !strings.Contains(f.badMessage.Error(), "netns+veth") {
		t.Errorf("pulled %t, imprecise %d, bad message %v; want true, 1, a netns+veth error", f.pulled, f.imprecise, f.badMessage)
	}
	if !f.complete() {
		t.Errorf("every reason arrived, but complete = false")
	}
	fs := sample{create: t0, ready: t0.Add(time.Second), ev: f}
	for _, m := range []measure{netnsVeth, containerStart, createToSandbox, sandboxToStarted, startedToReady} {
		if d, ok := m.of(&fs); ok {
			t.Errorf("%s = %v from unusable events, want not ok", m.name, d)
		}
	}
	if d, _ := distOf(containerStart, []sample{s, fs}); d.n != 1 || d.p50 != 120*time.Millisecond {
		t.Errorf("container start over one good and one bad sample = %+v, want one value of 120ms", d)
	}
}
