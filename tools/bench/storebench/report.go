package storebench

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// metric is the figure of a workload that its ratio compares.
type metric int

const (
	metricThroughput metric = iota // skiff/etcd
	metricP50                      // etcd/skiff
	metricP99                      // etcd/skiff
)

func (m metric) String() string {
	switch m {
	case metricP50:
		return "p50"
	case metricP99:
		return "p99"
	default:
		return "ops/s"
	}
}

// ratioSpec names one ratio of the final line and where it comes from.
type ratioSpec struct {
	key      string
	workload string
	metric   metric
}

// ratioSpecs are the ratios of the final line, in its order.
var ratioSpecs = []ratioSpec{
	{"put1p50", "put1", metricP50},
	{"put64", "put64", metricThroughput},
	{"put256", "put256", metricThroughput},
	{"txn64", "txn64", metricThroughput},
	{"rangeL1", "rangeL1", metricThroughput},
	{"rangeS1", "rangeS1", metricThroughput},
	{"watchP99", "watch64", metricP99},
}

// ratioValue is one computed ratio of the final line.
type ratioValue struct {
	key   string
	value float64
}

// ratioLine is the machine-read last line of a run. Ratios are "bigger is
// better", with two decimals; failover is whole milliseconds.
func ratioLine(ratios []ratioValue, failover time.Duration) string {
	var b strings.Builder
	b.WriteString("store/etcd ratio:")
	for _, r := range ratios {
		fmt.Fprintf(&b, " %s=%.2f", r.key, r.value)
	}
	fmt.Fprintf(&b, " failover=%dms", failover.Round(time.Millisecond).Milliseconds())
	return b.String()
}

var errNoData = errors.New("storebench: no measurement")

// ratio compares skiff with etcd on m so that bigger is better for Skiff.
func ratio(m metric, skiff, etcd result) (float64, error) {
	var num, den float64
	switch m {
	case metricThroughput:
		num, den = skiff.throughput(), etcd.throughput()
	case metricP50:
		num, den = float64(etcd.p50()), float64(skiff.p50())
	case metricP99:
		num, den = float64(etcd.p99()), float64(skiff.p99())
	default:
		return 0, fmt.Errorf("storebench: unknown metric %d", m)
	}
	if num <= 0 || den <= 0 {
		return 0, fmt.Errorf("%w: %s of %s: skiff %d ops, etcd %d ops", errNoData, m, skiff.workload, skiff.ops(), etcd.ops())
	}
	return num / den, nil
}

// comparison is one workload's result on both stores.
type comparison struct {
	workload    string
	skiff, etcd result
}

// report is everything a run measured.
type report struct {
	rows     []comparison
	failover time.Duration // 0 if not measured
}

func (r report) row(workload string) (comparison, bool) {
	for _, c := range r.rows {
		if c.workload == workload {
			return c, true
		}
	}
	return comparison{}, false
}

// check fails if a workload completed no operation on either store, naming the
// first error seen there.
func (r report) check() error {
	var errs []error
	for _, c := range r.rows {
		for _, res := range []result{c.skiff, c.etcd} {
			if res.ops() == 0 {
				errs = append(errs, fmt.Errorf("storebench: %s %s completed no operation (%d failed; first error: %v)",
					res.store, res.workload, res.errs, res.firstErr))
			}
		}
	}
	return errors.Join(errs...)
}

// ratios computes the final line's ratios.
func (r report) ratios() ([]ratioValue, error) {
	out := make([]ratioValue, 0, len(ratioSpecs))
	for _, s := range ratioSpecs {
		c, ok := r.row(s.workload)
		if !ok {
			return nil, fmt.Errorf("%w: workload %s was not run", errNoData, s.workload)
		}
		v, err := ratio(s.metric, c.skiff, c.etcd)
		if err != nil {
			return nil, err
		}
		out = append(out, ratioValue{key: s.key, value: v})
	}
	return out, nil
}

// writeTable prints the table, the failover time and a note per workload that
// had failures.
func (r report) writeTable(out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tskiff ops/s\tp50 ms\tp99 ms\tetcd ops/s\tp50 ms\tp99 ms\tratio\t")
	for _, c := range r.rows {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%.0f\t%s\t%s\t%s\t\n", c.workload,
			c.skiff.throughput(), ms(c.skiff.p50()), ms(c.skiff.p99()),
			c.etcd.throughput(), ms(c.etcd.p50()), ms(c.etcd.p99()),
			r.ratioCell(c))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("storebench: write table: %w", err)
	}
	var b strings.Builder
	if r.failover > 0 {
		fmt.Fprintf(&b, "failover (skiff): %d ms from kill -9 of the leader to the first put acknowledged by a survivor\n",
			r.failover.Round(time.Millisecond).Milliseconds())
	}
	for _, c := range r.rows {
		for _, res := range []result{c.skiff, c.etcd} {
			if res.errs > 0 {
				fmt.Fprintf(&b, "note: %s %s: %d operations failed, %d succeeded; first error: %v\n",
					res.store, res.workload, res.errs, res.ops(), res.firstErr)
			}
		}
	}
	if _, err := io.WriteString(out, b.String()); err != nil {
		return fmt.Errorf("storebench: write report: %w", err)
	}
	return nil
}

// ratioCell is the ratio column: the value and what it compares.
func (r report) ratioCell(c comparison) string {
	for _, s := range ratioSpecs {
		if s.workload != c.workload {
			continue
		}
		v, err := ratio(s.metric, c.skiff, c.etcd)
		if err != nil {
			return "-"
		}
		return fmt.Sprintf("%.2f (%s)", v, s.metric)
	}
	return "-"
}

// ms formats d in milliseconds with two decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}
