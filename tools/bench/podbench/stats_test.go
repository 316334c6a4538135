package podbench

import (
	"testing"
	"time"
)

func msd(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, n := range v {
		out[i] = time.Duration(n) * time.Millisecond
	}
	return out
}

func TestNewDist(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted: 100, 99, …, 1
	}
	ninety := make([]int, 90)
	for i := range ninety {
		ninety[i] = i + 1
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want dist
	}{
		{"empty", nil, dist{}},
		{"one", msd(7), dist{n: 1, p50: 7 * time.Millisecond, p90: 7 * time.Millisecond, p99: 7 * time.Millisecond, max: 7 * time.Millisecond}},
		{"two", msd(20, 10), dist{n: 2, p50: 10 * time.Millisecond, p90: 20 * time.Millisecond, p99: 20 * time.Millisecond, max: 20 * time.Millisecond}},
		{"hundred", msd(hundred...), dist{n: 100, p50: 50 * time.Millisecond, p90: 90 * time.Millisecond, p99: 99 * time.Millisecond, max: 100 * time.Millisecond}},
		// 3 rounds of 30: p99 of 90 is rank ceil(89.1) = 90, the max.
		{"ninety", msd(ninety...), dist{n: 90, p50: 45 * time.Millisecond, p90: 81 * time.Millisecond, p99: 90 * time.Millisecond, max: 90 * time.Millisecond}},
		{"five", msd(5, 1, 4, 2, 3), dist{n: 5, p50: 3 * time.Millisecond, p90: 5 * time.Millisecond, p99: 5 * time.Millisecond, max: 5 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.in...)
			if got := newDist(tc.in); got != tc.want {
				t.Errorf("newDist = %+v, want %+v", got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("newDist reordered its input: %v", tc.in)
				}
			}
		})
	}
}

func TestCeilMillis(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want int64
	}{
		{0, 0},
		{time.Microsecond, 1},
		{999 * time.Microsecond, 1},
		{time.Millisecond, 1},
		{2000*time.Millisecond + time.Nanosecond, 2001},
		{9200 * time.Microsecond, 10},
	} {
		if got := ceilMillis(tc.in); got != tc.want {
			t.Errorf("ceilMillis(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
