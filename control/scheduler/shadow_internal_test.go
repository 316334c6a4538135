package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/wasm/abi"
)

func TestShadowChoice(t *testing.T) {
	names := []string{"a", "b", "c"}
	tests := []struct {
		name      string
		res       abi.Result
		active    string
		wantNode  string
		wantAgree bool
	}{
		{"same best", abi.Result{Feasible: []uint32{0, 1, 2}, Scores: []int32{10, 50, 20}}, "b", "b", true},
		{"other best", abi.Result{Feasible: []uint32{0, 1, 2}, Scores: []int32{10, 50, 20}}, "c", "b", false},
		{"tie includes the active node", abi.Result{Feasible: []uint32{0, 2}, Scores: []int32{40, 40}}, "c", "c", true},
		{"tie without the active node", abi.Result{Feasible: []uint32{0, 2}, Scores: []int32{40, 40}}, "b", "a", false},
		{"active node infeasible", abi.Result{Feasible: []uint32{2}, Scores: []int32{0}}, "a", "c", false},
		{"no feasible node", abi.Result{}, "a", "", false},
		{"index out of range ignored", abi.Result{Feasible: []uint32{7, 1}, Scores: []int32{99, 1}}, "b", "b", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			node, agree := shadowChoice(&tc.res, names, tc.active)
			if node != tc.wantNode || agree != tc.wantAgree {
				t.Errorf("shadowChoice = %q, %v; want %q, %v", node, agree, tc.wantNode, tc.wantAgree)
			}
		})
	}
}

func TestShadowStats(t *testing.T) {
	var st shadowStats
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, r := range []string{ShadowAgree, ShadowDisagree, ShadowFailed, ShadowDropped, ShadowDisagree} {
		st.record(ShadowDecision{Pod: "ns/" + r, ActiveNode: "a", ShadowNode: "b", Result: r}, now)
	}
	d, ok := st.take()
	want := v1.ShadowStatus{Decisions: 4, Agreements: 1, Disagreements: 2, Failures: 1, Dropped: 1,
		LastDisagreement: &v1.ShadowDisagreement{Pod: "ns/disagree", ActiveNode: "a", ShadowNode: "b", Time: metav1.NewTime(now)}}
	if !ok || d.Decisions != want.Decisions || d.Agreements != want.Agreements || d.Disagreements != want.Disagreements ||
		d.Failures != want.Failures || d.Dropped != want.Dropped || *d.LastDisagreement != *want.LastDisagreement {
		t.Fatalf("take = %+v, %v; want %+v", d, ok, want)
	}
	if _, ok := st.take(); ok {
		t.Error("second take found counts")
	}
	// Counts that could not be written come back under newer ones.
	st.record(ShadowDecision{Pod: "ns/newer", Result: ShadowDisagree}, now)
	st.putBack(d)
	d2, _ := st.take()
	if d2.Decisions != 5 || d2.Disagreements != 3 || d2.LastDisagreement.Pod != "ns/newer" {
		t.Errorf("after putBack: %+v, want 5 decisions, 3 disagreements, the newer last", d2)
	}
	var total v1.ShadowStatus
	addShadow(&total, &d)
	addShadow(&total, &d2)
	if total.Decisions != 9 || total.Dropped != 2 || total.LastDisagreement.Pod != "ns/newer" {
		t.Errorf("addShadow = %+v", total)
	}
}

// TestShadowOfferDropsWhenFull: offering never blocks; a full queue drops the pod, counted for
// every shadow policy, and the worker keeps its buffers; a queued job takes them over.
func TestShadowOfferDropsWhenFull(t *testing.T) {
	var observed []ShadowDecision
	s := &Scheduler{cfg: Config{ShadowQueue: 1, ObserveShadow: func(d ShadowDecision) { observed = append(observed, d) }}}
	sh := newShadower(s)
	ups := []*upload{{name: "x", shadowOf: DefaultSchedulerName}, {name: "y", shadowOf: DefaultSchedulerName}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{SchedulerName: DefaultSchedulerName}}
	w := &worker{seen: []abi.NodeInput{{Name: 1}}, seenNames: []string{"n1"}}

	sh.offer(pod, "n1", w, ups)
	if w.seen != nil || w.seenNames != nil {
		t.Error("a queued job left its nodes with the worker")
	}
	w.seen, w.seenNames = []abi.NodeInput{{Name: 2}}, []string{"n2"}
	sh.offer(pod, "n2", w, ups)
	if len(w.seen) != 1 {
		t.Error("a dropped job took the worker's nodes")
	}
	for _, up := range ups {
		if d, _ := up.stats.take(); d.Dropped != 1 || d.Decisions != 0 {
			t.Errorf("%s counts %+v, want one dropped, no decision", up.name, d)
		}
	}
	if len(observed) != 2 || observed[0].Result != ShadowDropped || observed[0].ActiveNode != "n2" {
		t.Errorf("observed %+v, want two drops", observed)
	}
	j := <-sh.q
	if j.activeNode != "n1" || len(j.in.Nodes) != 1 || j.in.Nodes[0].Name != 1 || j.names[0] != "n1" {
		t.Errorf("queued job %+v", j)
	}
}
