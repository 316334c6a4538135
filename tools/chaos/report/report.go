package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/tools/chaos/check"
	"github.com/skiff-sh/skiff/tools/chaos/fault"
	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// Report is everything a run's report shows.
type Report struct {
	Command  string            `json:"command"` // the exact command that repeats the run
	Seed     uint64            `json:"seed"`
	Started  time.Time         `json:"started"`
	Duration time.Duration     `json:"duration"`
	Versions map[string]string `json:"versions"`
	Topology []string          `json:"topology"` // one line per VM
	Faults   []fault.Record    `json:"faults"`
	Verdicts []check.Verdict   `json:"verdicts"`
	Buckets  []Bucket          `json:"buckets"`
	Recovery []Recovery        `json:"recovery"`
	Windows  []Window          `json:"windows"`
	Ops      int               `json:"ops"`
	Service  *Service          `json:"service,omitempty"` // nil without a service loop
	Notes    []string          `json:"notes,omitempty"`   // errors of the run itself
}

// Bucket is the register operations called in one slice of the run.
type Bucket struct {
	At                time.Duration `json:"at"`
	OK, Fail, Unknown int
	P50, P99          time.Duration // latency of the OK operations
}

// Buckets slices the history's register operations by call time.
func Buckets(h history.History, width time.Duration) []Bucket {
	var out []Bucket
	var lat [][]time.Duration
	for _, op := range h.Operations() {
		i := int(op.Call / width)
		for len(out) <= i {
			out = append(out, Bucket{At: time.Duration(len(out)) * width})
			lat = append(lat, nil)
		}
		switch op.Status {
		case history.OK:
			out[i].OK++
			lat[i] = append(lat[i], op.Return-op.Call)
		case history.Fail:
			out[i].Fail++
		default:
			out[i].Unknown++
		}
	}
	for i := range out {
		out[i].P50, out[i].P99 = quantile(lat[i], 0.5), quantile(lat[i], 0.99)
	}
	return out
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[int(q*float64(len(d)-1))]
}

// Recovery is one fault kind's recovery times, from the heal.
type Recovery struct {
	Kind        fault.Kind    `json:"kind"`
	N           int           `json:"n"`
	ElectionP50 time.Duration `json:"electionP50"`
	ElectionMax time.Duration `json:"electionMax"`
	WriteP50    time.Duration `json:"firstWriteP50"`
	WriteMax    time.Duration `json:"firstWriteMax"`
	Unrecovered int           `json:"unrecovered"` // no first write measured
}

// Recoveries groups the faults' recovery times by kind, in fault.Kinds order.
func Recoveries(faults []fault.Record) []Recovery {
	by := map[fault.Kind][]fault.Record{}
	for _, f := range faults {
		if f.Err == "" {
			by[f.Kind] = append(by[f.Kind], f)
		}
	}
	var out []Recovery
	for _, k := range fault.Kinds {
		fs := by[k]
		if len(fs) == 0 {
			continue
		}
		r := Recovery{Kind: k, N: len(fs)}
		var el, wr []time.Duration
		for _, f := range fs {
			if f.FirstWrite < 0 {
				r.Unrecovered++
				continue
			}
			el, wr = append(el, f.Election), append(wr, f.FirstWrite)
		}
		r.ElectionP50, r.WriteP50 = quantile(el, 0.5), quantile(wr, 0.5)
		if len(el) > 0 {
			r.ElectionMax, r.WriteMax = slices.Max(el), slices.Max(wr)
		}
		out = append(out, r)
	}
	return out
}

// Window is the availability of the register workloads during one fault:
// the operations called between its injection and its heal.
type Window struct {
	Seq               int        `json:"seq"`
	Kind              fault.Kind `json:"kind"`
	OK, Fail, Unknown int
	// Requests and Failed count the service requests sent meanwhile
	// (AddService).
	Requests int `json:"requests,omitempty"`
	Failed   int `json:"failed,omitempty"`
}

// Windows counts operations per fault window.
func Windows(h history.History, faults []fault.Record) []Window {
	ops := h.Operations()
	var out []Window
	for _, f := range faults {
		w := Window{Seq: f.Seq, Kind: f.Kind}
		end := f.Healed
		if end == 0 {
			end = history.Never
		}
		for _, op := range ops {
			if op.Call < f.Injected || op.Call > end {
				continue
			}
			switch op.Status {
			case history.OK:
				w.OK++
			case history.Fail:
				w.Fail++
			default:
				w.Unknown++
			}
		}
		out = append(out, w)
	}
	return out
}

// New computes the parts of a report that come from the history and the
// faults; the caller fills in the rest.
func New(h history.History, faults []fault.Record, verdicts []check.Verdict) *Report {
	return &Report{
		Faults:   faults,
		Verdicts: verdicts,
		Buckets:  Buckets(h, time.Second),
		Recovery: Recoveries(faults),
		Windows:  Windows(h, faults),
		Ops:      len(h.Operations()),
	}
}

// Pass reports whether every checker passed and nothing went wrong running.
// An Unknown verdict does not fail a run (it is reported).
func (r *Report) Pass() bool {
	for _, v := range r.Verdicts {
		if v.Result == check.Fail {
			return false
		}
	}
	return len(r.Notes) == 0
}

// violations counts the named checker's violations.
func (r *Report) violations(checker string) int {
	n := 0
	for _, v := range r.Verdicts {
		if v.Checker == checker {
			n += v.Violations
		}
	}
	return n
}

// MaxRecovery is the longest first write after a heal (or election, if longer).
func (r *Report) MaxRecovery() time.Duration {
	var m time.Duration
	for _, rc := range r.Recovery {
		m = max(m, rc.WriteMax, rc.ElectionMax)
	}
	return m
}

// Line is the run's last line:
// chaos: verdict=pass ops=N illegal=0 lost=0 maxRecovery=Nms
func (r *Report) Line() string {
	verdict := "pass"
	if !r.Pass() {
		verdict = "fail"
	}
	return fmt.Sprintf("chaos: verdict=%s ops=%d illegal=%d lost=%d maxRecovery=%dms",
		verdict, r.Ops, r.violations("linearizable"), r.violations("lost-writes"), r.MaxRecovery().Milliseconds())
}

// Text is the summary: verdicts, recovery per kind, notes, then Line.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, %s, %d faults, %d register operations\n", r.Seed, r.Duration.Round(time.Second), len(r.Faults), r.Ops)
	for _, v := range r.Verdicts {
		fmt.Fprintf(&b, "  %s\n", v)
		for _, d := range v.Details {
			fmt.Fprintf(&b, "    %s\n", d)
		}
	}
	b.WriteString("recovery after heal (election / first write), p50 and max:\n")
	for _, rc := range r.Recovery {
		fmt.Fprintf(&b, "  %-16s n=%d election p50=%dms max=%dms  first write p50=%dms max=%dms", rc.Kind, rc.N,
			rc.ElectionP50.Milliseconds(), rc.ElectionMax.Milliseconds(), rc.WriteP50.Milliseconds(), rc.WriteMax.Milliseconds())
		if rc.Unrecovered > 0 {
			fmt.Fprintf(&b, "  (%d never recovered)", rc.Unrecovered)
		}
		b.WriteString("\n")
	}
	b.WriteString(r.serviceText())
	for _, f := range r.Faults {
		if f.Outcome != "" {
			fmt.Fprintf(&b, "fault %d %s on %v: %s\n", f.Seq, f.Kind, f.VMs, f.Outcome)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if r.Command != "" {
		fmt.Fprintf(&b, "repeat with: %s\n", r.Command)
	}
	b.WriteString(r.Line())
	b.WriteString("\n")
	return b.String()
}

// Files of a report directory.
const (
	HTMLFile    = "report.html"
	JSONFile    = "report.json"
	SummaryFile = "summary.txt"
)

// Write writes report.html, report.json and summary.txt into dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: creating %s: %w", dir, err)
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encoding: %w", err)
	}
	files := map[string][]byte{JSONFile: j, SummaryFile: []byte(r.Text()), HTMLFile: []byte(r.HTML())}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			return fmt.Errorf("report: writing %s: %w", p, err)
		}
	}
	return nil
}
