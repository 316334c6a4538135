package podbench

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// finalLineRE is the format of the last line.
var finalLineRE = regexp.MustCompile(`^pods: create->ready p50=\d+ms p99=\d+ms \(netns\+veth p50=\d+ms, container start p50=\d+ms\)$`)

// fakeSamples are n pods with create->ready i*step+base, netns+veth 9.2ms, container start 100ms.
func fakeSamples(n int, base, step time.Duration) []sample {
	t0 := time.Date(2025, 11, 28, 12, 0, 0, 0, time.UTC)
	out := make([]sample, n)
	for i := range out {
		c := t0.Add(time.Duration(i) * time.Millisecond)
		ready := c.Add(base + time.Duration(i)*step)
		out[i] = sample{name: fmt.Sprintf("p%d", i), node: fmt.Sprintf("n%d", i%3), create: c, ready: ready,
			ev: podEvents{netns: 9200 * time.Microsecond, netnsOK: true,
				sandbox: c.Add(50 * time.Millisecond), created: c.Add(60 * time.Millisecond), started: c.Add(160 * time.Millisecond)}}
	}
	return out
}

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		name      string
		samples   []sample
		wantFinal string
		wantGoal  string
	}{
		{"met", fakeSamples(100, 200*time.Millisecond, 10*time.Millisecond),
			"pods: create->ready p50=690ms p99=1180ms (netns+veth p50=10ms, container start p50=100ms)", "goal: p99 create->ready <= 2000ms: met (p99=1180ms"},
		{"missed by a nanosecond", fakeSamples(1, 2*time.Second+time.Nanosecond, 0),
			"pods: create->ready p50=2001ms p99=2001ms (netns+veth p50=10ms, container start p50=100ms)", "goal: p99 create->ready <= 2000ms: NOT met (p99=2001ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			report(&buf, tc.samples, 2*time.Second)
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			last := lines[len(lines)-1]
			if last != tc.wantFinal {
				t.Errorf("final line = %q, want %q", last, tc.wantFinal)
			}
			if !finalLineRE.MatchString(last) {
				t.Errorf("final line %q does not match the issue's format", last)
			}
			if !strings.Contains(buf.String(), tc.wantGoal) {
				t.Errorf("report lacks %q:\n%s", tc.wantGoal, buf.String())
			}
			for _, want := range []string{"anchor: Kubernetes SLO p99 <= 5000ms", "create->sandbox", "container start", "started->ready"} {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, buf.String())
				}
			}
		})
	}
}

func TestReportMissingEvents(t *testing.T) {
	s := fakeSamples(4, 500*time.Millisecond, 0)
	s[1].ev = podEvents{}
	s[2].ev.pulled = true
	var buf bytes.Buffer
	report(&buf, s, 2*time.Second)
	for _, want := range []string{"1 without events", "note: 1 pods pulled the image"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestRoundLine(t *testing.T) {
	got := roundLine(2, fakeSamples(6, 100*time.Millisecond, 100*time.Millisecond), 700*time.Millisecond)
	want := "round 2: 6 pods Ready in 700.0ms: create->ready p50=300.0ms p90=600.0ms p99=600.0ms max=600.0ms (pods per node: n0=2 n1=2 n2=2)"
	if got != want {
		t.Errorf("roundLine =\n %q, want\n %q", got, want)
	}
}
