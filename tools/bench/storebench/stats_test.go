package storebench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value p50", ms(7), 50, 7 * time.Millisecond},
		{"one value p99", ms(7), 99, 7 * time.Millisecond},
		{"two values p50 is the lower", ms(1, 2), 50, 1 * time.Millisecond},
		{"two values p99 is the upper", ms(1, 2), 99, 2 * time.Millisecond},
		{"ten values p50", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5 * time.Millisecond},
		{"ten values p99", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"hundred p50", hundred, 50, 50 * time.Millisecond},
		{"hundred p99 is exact rank 99", hundred, 99, 99 * time.Millisecond},
		{"hundred p100", hundred, 100, 100 * time.Millisecond},
		{"tiny q clamps to the first", hundred, 0.001, 1 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.q); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.q, got, tc.want)
			}
		})
	}
}

func TestNewResultSortsAndSummarises(t *testing.T) {
	r := newResult("etcd", "put1", []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}, 1, nil, 2*time.Second)
	if got, want := r.ops(), 4; got != want {
		t.Errorf("ops = %d, want %d", got, want)
	}
	if got, want := r.throughput(), 2.0; got != want {
		t.Errorf("throughput = %v, want %v", got, want)
	}
	if got, want := r.p50(), 2*time.Millisecond; got != want {
		t.Errorf("p50 = %v, want %v", got, want)
	}
	if got, want := r.p99(), 4*time.Millisecond; got != want {
		t.Errorf("p99 = %v, want %v", got, want)
	}
	if got := (result{}).throughput(); got != 0 {
		t.Errorf("throughput of an empty result = %v, want 0", got)
	}
}

func TestStampRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 1234567890, 90 * time.Minute} {
		v := make([]byte, 32)
		putStamp(v, d)
		got, ok := readStamp(v)
		if !ok || got != d {
			t.Errorf("readStamp(putStamp(%v)) = %v, %v; want %v, true", d, got, ok, d)
		}
	}
	if _, ok := readStamp([]byte("short")); ok {
		t.Error("readStamp of a short value: ok, want not ok")
	}
	if _, ok := readStamp([]byte("zzzzzzzzzzzzzzzzzz")); ok {
		t.Error("readStamp of a non-hex value: ok, want not ok")
	}
}
