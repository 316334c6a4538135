package podbench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// dist is the distribution of one measure over pods.
type dist struct {
	n                  int
	p50, p90, p99, max time.Duration
}

// newDist summarises lat (not modified).
func newDist(lat []time.Duration) dist {
	s := slices.Clone(lat)
	slices.Sort(s)
	d := dist{n: len(s), p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99)}
	if len(s) > 0 {
		d.max = s[len(s)-1]
	}
	return d
}

// percentile returns the nearest-rank q-th percentile (0 < q ≤ 100) of sorted: the smallest
// value that at least q percent of the values are less than or equal to. It returns 0 for no
// values.
func percentile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(n) / 100)) // q*n first: 99*100/100 is exactly 99
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// ceilMillis is d in whole milliseconds, rounded up, so that any positive latency is at least
// 1 and a goal such as "≤ 2000 ms" is never met by rounding.
func ceilMillis(d time.Duration) int64 {
	return int64(math.Ceil(float64(d) / float64(time.Millisecond)))
}

// ms formats d as milliseconds with one decimal.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}
