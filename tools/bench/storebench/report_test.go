package storebench

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ratioLineRE is the contract of the last line; machines read it.
var ratioLineRE = regexp.MustCompile(`^store/etcd ratio: put1p50=(\d+\.\d\d) put64=(\d+\.\d\d) put256=(\d+\.\d\d) txn64=(\d+\.\d\d) rangeL1=(\d+\.\d\d) rangeS1=(\d+\.\d\d) watchP99=(\d+\.\d\d) failover=(\d+)ms$`)

func TestRatioLineGolden(t *testing.T) {
	got := ratioLine([]ratioValue{
		{"put1p50", 1},
		{"put64", 0.5},
		{"put256", 1.234},
		{"txn64", 1.235001},
		{"rangeL1", 12.3456},
		{"rangeS1", 0.004},
		{"watchP99", 2},
	}, 1234567*time.Microsecond)
	const want = "store/etcd ratio: put1p50=1.00 put64=0.50 put256=1.23 txn64=1.24 rangeL1=12.35 rangeS1=0.00 watchP99=2.00 failover=1235ms"
	if got != want {
		t.Errorf("ratioLine:\n got %q\nwant %q", got, want)
	}
	if !ratioLineRE.MatchString(got) {
		t.Errorf("ratioLine %q does not match %v", got, ratioLineRE)
	}
}

// fakeResult has n operations of latency lat over one second.
func fakeResult(store, workload string, n int, lat time.Duration) result {
	l := make([]time.Duration, n)
	for i := range l {
		l[i] = lat
	}
	return newResult(store, workload, l, 0, nil, time.Second)
}

func fakeReport(skiffOps, etcdOps int, skiffLat, etcdLat time.Duration) report {
	var r report
	for _, w := range workloads() {
		r.rows = append(r.rows, comparison{
			workload: w.name,
			skiff:    fakeResult("skiff", w.name, skiffOps, skiffLat),
			etcd:     fakeResult("etcd", w.name, etcdOps, etcdLat),
		})
	}
	r.failover = 2 * time.Second
	return r
}

func TestRatiosAreBiggerIsBetter(t *testing.T) {
	// Skiff does twice the throughput at a quarter of etcd's latency: every ratio
	// must say Skiff is better, as 2 for throughput and 4 for latency.
	r := fakeReport(200, 100, time.Millisecond, 4*time.Millisecond)
	ratios, err := r.ratios()
	if err != nil {
		t.Fatalf("ratios: %v", err)
	}
	want := map[string]float64{
		"put1p50": 4, "put64": 2, "put256": 2, "txn64": 2, "rangeL1": 2, "rangeS1": 2, "watchP99": 4,
	}
	if len(ratios) != len(want) {
		t.Fatalf("got %d ratios, want %d", len(ratios), len(want))
	}
	for i, rv := range ratios {
		if rv.key != ratioSpecs[i].key {
			t.Errorf("ratio %d is %s, want %s", i, rv.key, ratioSpecs[i].key)
		}
		if rv.value != want[rv.key] {
			t.Errorf("%s = %v, want %v", rv.key, rv.value, want[rv.key])
		}
	}
	line := ratioLine(ratios, r.failover)
	const golden = "store/etcd ratio: put1p50=4.00 put64=2.00 put256=2.00 txn64=2.00 rangeL1=2.00 rangeS1=2.00 watchP99=4.00 failover=2000ms"
	if line != golden {
		t.Errorf("line:\n got %q\nwant %q", line, golden)
	}
}

func TestReportWithoutOperationsFails(t *testing.T) {
	r := fakeReport(0, 100, 0, time.Millisecond)
	r.rows[1].skiff.errs = 3
	r.rows[1].skiff.firstErr = errors.New("connection refused")
	err := r.check()
	if err == nil {
		t.Fatal("check of a report where skiff did nothing: nil error")
	}
	if !strings.Contains(err.Error(), "skiff put64 completed no operation (3 failed; first error: connection refused)") {
		t.Errorf("check error does not name the workload and its first error: %v", err)
	}
	if _, err := r.ratios(); !errors.Is(err, errNoData) {
		t.Errorf("ratios of a report where skiff did nothing: %v, want %v", err, errNoData)
	}
	if err := fakeReport(1, 1, time.Millisecond, time.Millisecond).check(); err != nil {
		t.Errorf("check of a complete report: %v", err)
	}
}

func TestWriteTable(t *testing.T) {
	r := fakeReport(200, 100, time.Millisecond, 4*time.Millisecond)
	r.rows[0].etcd.errs = 2
	r.rows[0].etcd.firstErr = errors.New("deadline exceeded")
	var b bytes.Buffer
	if err := r.writeTable(&b); err != nil {
		t.Fatalf("writeTable: %v", err)
	}
	out := b.String()
	for _, want := range []string{
		"workload  skiff ops/s  p50 ms  p99 ms  etcd ops/s  p50 ms  p99 ms",
		"4.00 (p50)",
		"2.00 (ops/s)",
		"4.00 (p99)",
		"failover (skiff): 2000 ms",
		"note: etcd put1: 2 operations failed, 100 succeeded; first error: deadline exceeded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 1+len(workloads())+2 {
		t.Errorf("table has %d lines, want header, %d rows, failover and one note:\n%s", n, len(workloads()), out)
	}
}

func TestEveryRatioHasAWorkload(t *testing.T) {
	names := map[string]bool{}
	for _, w := range workloads() {
		names[w.name] = true
	}
	for _, s := range ratioSpecs {
		if !names[s.workload] {
			t.Errorf("ratio %s refers to workload %s, which is not run", s.key, s.workload)
		}
	}
}
