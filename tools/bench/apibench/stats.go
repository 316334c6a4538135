package apibench

import (
	"math"
	"slices"
	"time"
)

// samples are the latencies of one phase, or of one server's share of it.
type samples struct {
	lat     []time.Duration // one per successful operation, sorted
	errs    int             // failed operations (or, for the watch, missing events)
	elapsed time.Duration   // wall time of the phase; zero where a rate makes no sense
}

// newSamples sorts lat in place and keeps it.
func newSamples(lat []time.Duration, errs int, elapsed time.Duration) samples {
	slices.Sort(lat)
	return samples{lat: lat, errs: errs, elapsed: elapsed}
}

func (s samples) ops() int { return len(s.lat) }

// rate is successful operations per second of elapsed time, 0 without a time.
func (s samples) rate() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.ops()) / s.elapsed.Seconds()
}

func (s samples) p50() time.Duration { return percentile(s.lat, 50) }
func (s samples) p99() time.Duration { return percentile(s.lat, 99) }

func (s samples) max() time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	return s.lat[len(s.lat)-1]
}

// percentile returns the nearest-rank q-th percentile (0 < q ≤ 100) of
// sorted: the smallest value that at least q percent of the values are less
// than or equal to. It returns 0 for no values.
func percentile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(n) / 100)) // q*n first: 99*100/100 is exactly 99
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// ceilMillis is d in whole milliseconds, rounded up, so that any positive
// latency is at least 1 and a goal such as "≤ 100 ms" is never met by rounding.
func ceilMillis(d time.Duration) int64 {
	return int64(math.Ceil(float64(d) / float64(time.Millisecond)))
}
