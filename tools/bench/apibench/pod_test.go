package apibench

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestPodNames(t *testing.T) {
	for _, i := range []int{0, 7, 9999, maxPods - 1} {
		name := podName(i)
		if len(name) != len(podPrefix)+podDigits {
			t.Errorf("podName(%d) = %q: not fixed width", i, name)
		}
		if got, ok := podIndex(name); !ok || got != i {
			t.Errorf("podIndex(%q) = %d, %v; want %d", name, got, ok, i)
		}
		if len(putKey(i)) != len(podKey(i)) {
			t.Errorf("putKey(%d) %q and podKey %q differ in length", i, putKey(i), podKey(i))
		}
	}
	for _, name := range []string{"", "apibench-", "apibench-12345", "apibench-1234567", "apibench--12345", "other-000001", "apibench-00000x"} {
		if i, ok := podIndex(name); ok {
			t.Errorf("podIndex(%q) = %d, true; want not ok", name, i)
		}
	}
}

func TestNewPod(t *testing.T) {
	p := newPod(42, "n2")
	if p.Name != "apibench-000042" || p.Namespace != namespace || p.Labels[viaLabel] != "n2" || p.Spec.NodeName != "" {
		t.Errorf("newPod = %s/%s labels %v node %q", p.Namespace, p.Name, p.Labels, p.Spec.NodeName)
	}
	if len(p.Spec.Containers) != 1 {
		t.Fatalf("containers = %d, want 1", len(p.Spec.Containers))
	}
	req := p.Spec.Containers[0].Resources.Requests
	if cpu, mem := req[corev1.ResourceCPU], req[corev1.ResourceMemory]; cpu.MilliValue() != 100 || mem.Value() != 64<<20 {
		t.Errorf("requests cpu %s memory %s, want 100m and 64Mi", cpu.String(), mem.String())
	}
}

func TestArrivals(t *testing.T) {
	a := newArrivals(3)
	a.record(podName(1), 5*time.Millisecond)
	a.record(podName(1), 9*time.Millisecond) // a repeat, after a reopened watch
	a.record(podName(0), 0)                  // at the clock's base instant
	a.record(podName(3), time.Millisecond)   // beyond the run
	a.record("stranger", time.Millisecond)
	if got := a.seen.Load(); got != 2 {
		t.Errorf("seen = %d, want 2", got)
	}
	if at, ok := a.get(1); !ok || at != 5*time.Millisecond {
		t.Errorf("get(1) = %v, %v; want the first arrival, 5ms", at, ok)
	}
	if at, ok := a.get(0); !ok || at != 0 {
		t.Errorf("get(0) = %v, %v; want 0, true", at, ok)
	}
	if _, ok := a.get(2); ok {
		t.Error("get(2) reports an arrival that never happened")
	}

	cr := phaseResult{
		start: []time.Duration{0, 2 * time.Millisecond, 0},
		ok:    []bool{true, true, true},
		via:   []int{2, 0, 1},
	}
	all, per := watchResult(cr, a, 3)
	if all.ops() != 2 || all.errs != 1 || all.max() != 3*time.Millisecond {
		t.Errorf("watchResult: %d ops, %d missing, max %v; want 2, 1, 3ms", all.ops(), all.errs, all.max())
	}
	if per[0].ops() != 1 || per[1].errs != 1 || per[2].ops() != 1 {
		t.Errorf("watchResult per server = %+v", per)
	}
}
