package apibench

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFinalLine(t *testing.T) {
	tests := []struct {
		rate          float64
		p99, watchP99 time.Duration
		ratio         float64
		want          string
	}{
		{786.4, 122 * time.Millisecond, 127500 * time.Microsecond, 0.2509, "api: create=786/s p99=122ms watchP99=128ms api/store=0.25"},
		{786.5, 100*time.Millisecond + 1, 100 * time.Millisecond, 0.7, "api: create=787/s p99=101ms watchP99=100ms api/store=0.70"},
		{12000, 300 * time.Microsecond, time.Nanosecond, 1.234, "api: create=12000/s p99=1ms watchP99=1ms api/store=1.23"},
	}
	for _, tt := range tests {
		got := finalLine(tt.rate, tt.p99, tt.watchP99, tt.ratio)
		if got != tt.want {
			t.Errorf("finalLine(%v, %v, %v, %v) = %q, want %q", tt.rate, tt.p99, tt.watchP99, tt.ratio, got, tt.want)
		}
		if !finalLineRE.MatchString(got) {
			t.Errorf("%q does not match %v", got, finalLineRE)
		}
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one", []time.Duration{5}, 99, 5},
		{"p99 of 100", hundred, 99, 99 * time.Millisecond},
		{"p50 of 100", hundred, 50, 50 * time.Millisecond},
		{"p100 of 100", hundred, 100, 100 * time.Millisecond},
		{"p99 of 10 is the max", hundred[:10], 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.q); got != tt.want {
			t.Errorf("%s: percentile(q=%v) = %v, want %v", tt.name, tt.q, got, tt.want)
		}
	}
}

// okPhase is a phase of n successful operations of 1..n ms over elapsed.
func okPhase(n int, elapsed time.Duration) phaseResult {
	lat := make([]time.Duration, n)
	ok := make([]bool, n)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Millisecond
		ok[i] = true
	}
	return phaseResult{all: newSamples(lat, 0, elapsed), ok: ok}
}

func TestReport(t *testing.T) {
	rep := report{
		pods: 100, workers: 32, servers: []string{"n1", "n2", "n3"}, encoding: "JSON", storedSize: 409,
		create: okPhase(100, time.Second), put: okPhase(100, 250*time.Millisecond),
		watch: newSamples([]time.Duration{time.Millisecond, 150 * time.Millisecond}, 0, 0),
	}
	if got := rep.ratio(); got != 0.25 {
		t.Errorf("ratio = %v, want 100/s over 400/s = 0.25", got)
	}
	if err := rep.check(); err != nil {
		t.Errorf("check of a clean run = %v", err)
	}
	if got, want := rep.finalLine(), "api: create=100/s p99=99ms watchP99=150ms api/store=0.25"; got != want {
		t.Errorf("finalLine = %q, want %q", got, want)
	}
	var out bytes.Buffer
	if err := rep.writeTable(&out, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"32 workers (11/11/10 per server)", "409-byte stored pod", "api/store 0.25 (goal >= 0.7: missed)", "(goal <= 100 ms: missed)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "via n1") {
		t.Errorf("table without verbose has per-server rows:\n%s", out.String())
	}

	failed := rep
	failed.create.all = newSamples(make([]time.Duration, 98), 2, time.Second)
	failed.create.firstErr = errors.New("pods \"apibench-000007\" is forbidden")
	failed.watch.errs = 3
	failed.put.all = newSamples(make([]time.Duration, 99), 0, time.Second) // one lost to cancellation
	err := failed.check()
	if err == nil {
		t.Fatal("check of a run with failures = nil")
	}
	for _, want := range []string{"98 of 100 creates succeeded, 2 failed", "apibench-000007\" is forbidden", "3 of 98 created pods never arrived", "99 of 100 store puts succeeded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("check error lacks %q: %v", want, err)
		}
	}
}
