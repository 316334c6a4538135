package report

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/tools/chaos/check"
	"github.com/skiff-sh/skiff/tools/chaos/fault"
	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// run records a small history: operations in the first three seconds, one
// of them during a fault.
func run(t *testing.T) history.History {
	t.Helper()
	r := history.NewRecorder(nil)
	c := r.NewClient()
	for i := range 5 {
		op := r.Invoke(c, history.Write, "k", history.Input{Value: string(rune('a' + i))})
		op.OK(history.Output{Rev: int64(i + 1)})
	}
	op := r.Invoke(r.NewClient(), history.Write, "k", history.Input{Value: "z"})
	op.Unknown(errors.New("timeout"))
	return r.History()
}

func TestRecoveriesAndLine(t *testing.T) {
	faults := []fault.Record{
		{Step: fault.Step{Seq: 1, Kind: fault.KillLeader}, Injected: 1, Healed: 2, Election: 300 * time.Millisecond, FirstWrite: 900 * time.Millisecond},
		{Step: fault.Step{Seq: 2, Kind: fault.KillLeader}, Injected: 3, Healed: 4, Election: 100 * time.Millisecond, FirstWrite: 200 * time.Millisecond},
		{Step: fault.Step{Seq: 3, Kind: fault.KillLeader}, Injected: 5, Healed: 6, Election: 200 * time.Millisecond, FirstWrite: 400 * time.Millisecond},
		{Step: fault.Step{Seq: 4, Kind: fault.Split}, Injected: 7, Healed: 8, FirstWrite: -1},
		{Step: fault.Step{Seq: 5, Kind: fault.Pause}, Err: "boom"},
	}
	rs := Recoveries(faults)
	want := []Recovery{
		{Kind: fault.KillLeader, N: 3, ElectionP50: 200 * time.Millisecond, ElectionMax: 300 * time.Millisecond, WriteP50: 400 * time.Millisecond, WriteMax: 900 * time.Millisecond},
		{Kind: fault.Split, N: 1, Unrecovered: 1},
	}
	if len(rs) != len(want) {
		t.Fatalf("recoveries %+v, want %+v", rs, want)
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("recovery %d: %+v, want %+v", i, rs[i], want[i])
		}
	}
	tests := []struct {
		name     string
		verdicts []check.Verdict
		notes    []string
		want     string
	}{
		{"pass", []check.Verdict{{Checker: "linearizable", Result: check.Pass}, {Checker: "lost-writes", Result: check.Pass}}, nil,
			"chaos: verdict=pass ops=6 illegal=0 lost=0 maxRecovery=900ms"},
		{"unknown still passes", []check.Verdict{{Checker: "linearizable", Result: check.Unknown}}, nil,
			"chaos: verdict=pass ops=6 illegal=0 lost=0 maxRecovery=900ms"},
		{"illegal and lost", []check.Verdict{{Checker: "linearizable", Result: check.Fail, Violations: 2}, {Checker: "lost-writes", Result: check.Fail, Violations: 3}}, nil,
			"chaos: verdict=fail ops=6 illegal=2 lost=3 maxRecovery=900ms"},
		{"a note fails the run", nil, []string{"cluster did not recover"},
			"chaos: verdict=fail ops=6 illegal=0 lost=0 maxRecovery=900ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(run(t), faults, tt.verdicts)
			r.Notes = tt.notes
			if got := r.Line(); got != tt.want {
				t.Errorf("line %q, want %q", got, tt.want)
			}
			if !strings.HasSuffix(r.Text(), tt.want+"\n") {
				t.Errorf("the summary does not end with the line:\n%s", r.Text())
			}
		})
	}
}

func TestBucketsAndWindows(t *testing.T) {
	h := run(t)
	bs := Buckets(h, time.Hour)
	if len(bs) != 1 || bs[0].OK != 5 || bs[0].Unknown != 1 || bs[0].P99 < bs[0].P50 {
		t.Errorf("buckets %+v, want one with 5 ok and 1 unknown", bs)
	}
	ops := h.Operations()
	ws := Windows(h, []fault.Record{
		{Step: fault.Step{Seq: 1, Kind: fault.Pause}, Injected: ops[5].Call, Healed: ops[5].Call},
		{Step: fault.Step{Seq: 2, Kind: fault.Ring}, Injected: ops[5].Call + 1}, // never healed: to the end
	})
	if len(ws) != 2 || ws[0].Unknown != 1 || ws[0].OK != 0 || ws[1].OK+ws[1].Fail+ws[1].Unknown != 0 {
		t.Errorf("windows %+v", ws)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	faults := []fault.Record{{Step: fault.Step{Seq: 1, Kind: fault.Split}, Detail: "split [vm1] | [vm2 vm3] <b>", Injected: time.Second, Healed: 2 * time.Second, FirstWrite: time.Second}}
	r := New(run(t), faults, []check.Verdict{{Checker: "linearizable", Result: check.Fail, Violations: 1, Files: []string{filepath.Join(dir, "linearizability-000-k.html")}}})
	r.Seed, r.Command, r.Duration = 7, "skiff chaos run --seed 7", 3*time.Second
	r.Versions = map[string]string{"skiff": "dev"}
	r.Topology = []string{"vm1 10.99.0.11 server"}
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "verdict=fail", "skiff chaos run --seed 7", `href="linearizability-000-k.html"`, "&lt;b&gt;", "vm1 10.99.0.11"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(string(page), "<b>") {
		t.Error("report.html has an unescaped detail")
	}
	raw, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil || back.Seed != 7 || len(back.Faults) != 1 || back.Ops != 6 {
		t.Errorf("report.json read back as %+v (%v)", back, err)
	}
	sum, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil || !strings.HasSuffix(string(sum), r.Line()+"\n") {
		t.Errorf("summary.txt: %q %v", sum, err)
	}
}
