package report

import (
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/tools/chaos/fault"
	"github.com/skiff-sh/skiff/tools/chaos/history"
)

func TestAddServiceCountsPerFaultWindow(t *testing.T) {
	s := time.Second
	faults := []fault.Record{
		{Step: fault.Step{Seq: 1, Kind: fault.Isolate}, VMs: []string{"vm2"}, Injected: 10 * s, Healed: 20 * s},
		{Step: fault.Step{Seq: 2, Kind: fault.DiskFull}, VMs: []string{"vm1"}, Injected: 30 * s, Healed: 40 * s, Outcome: "the server kept running"},
		{Step: fault.Step{Seq: 3, Kind: fault.Corrupt}, VMs: []string{"vm3"}, Injected: 50 * s}, // never healed: to the end
	}
	reqs := []Request{
		{At: 5 * s, OK: true},
		{At: 6 * s, Err: "timeout"},                                                        // outside
		{At: 11 * s, OK: true}, {At: 12 * s, Err: "refused"}, {At: 19 * s, Err: "refused"}, // fault 1: 2 of 3
		{At: 35 * s, OK: true},                             // fault 2: 0 of 1
		{At: 60 * s, Err: "reset"}, {At: 61 * s, OK: true}, // fault 3: 1 of 2
	}
	r := New(history.History{}, faults, nil)
	r.AddService(reqs)
	if r.Service == nil || r.Service.Requests != 8 || r.Service.Failed != 4 || r.Service.Outside != 1 || r.Service.Errors["refused"] != 2 {
		t.Fatalf("service %+v, want 8 requests, 4 failed, 1 outside, 2 refused", r.Service)
	}
	want := [][2]int{{3, 2}, {1, 0}, {2, 1}}
	for i, w := range r.Windows {
		if w.Requests != want[i][0] || w.Failed != want[i][1] {
			t.Errorf("window %d: %d requests %d failed, want %v", w.Seq, w.Requests, w.Failed, want[i])
		}
	}
	text := r.Text()
	for _, s := range []string{"service availability: 8 requests, 4 failed", "fault 1 isolate", "2 of 3 requests failed", "the server kept running"} {
		if !strings.Contains(text, s) {
			t.Errorf("summary lacks %q:\n%s", s, text)
		}
	}
	if html := r.HTML(); !strings.Contains(html, "Service availability") || !strings.Contains(html, "<td>2/3</td>") {
		t.Errorf("the HTML report lacks the service figures")
	}
}
