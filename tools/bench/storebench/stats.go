package storebench

import (
	"math"
	"slices"
	"time"
)

// result is what one workload achieved against one store.
type result struct {
	store    string
	workload string
	lat      []time.Duration // one per successful operation, sorted
	errs     int             // failed operations
	firstErr error           // the first failure, for the report
	elapsed  time.Duration   // wall time from the first operation to the last answer
}

// newResult sorts lat in place and keeps it.
func newResult(store, workload string, lat []time.Duration, errs int, firstErr error, elapsed time.Duration) result {
	slices.Sort(lat)
	return result{store: store, workload: workload, lat: lat, errs: errs, firstErr: firstErr, elapsed: elapsed}
}

// ops is the number of successful operations.
func (r result) ops() int { return len(r.lat) }

// throughput is successful operations per second of elapsed time.
func (r result) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops()) / r.elapsed.Seconds()
}

func (r result) p50() time.Duration { return percentile(r.lat, 50) }
func (r result) p99() time.Duration { return percentile(r.lat, 99) }

// percentile returns the nearest-rank q-th percentile (0 < q ≤ 100) of sorted:
// the smallest value that at least q percent of the values are less than or
// equal to. It returns 0 for no values.
func percentile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(n) / 100)) // q*n first: 99*100/100 is exactly 99
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}
