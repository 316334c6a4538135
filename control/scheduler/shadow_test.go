package scheduler_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/scheduler"
	"github.com/skiff-sh/skiff/wasm/build"
	policy "github.com/skiff-sh/skiff/wasm/policies/scheduler"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

// guestModule builds a scheduler module (cached by source hash): dir under the repository's
// root, with the further source directories it depends on.
func guestModule(t *testing.T, dir string, deps ...string) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	all := []string{filepath.Join(root, "wasm", "sdk"), filepath.Join(root, "wasm", "abi")}
	for _, d := range deps {
		all = append(all, filepath.Join(root, d))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := build.Cached(ctx, filepath.Join(root, dir), all...)
	if err != nil {
		t.Fatalf("build %s: %v", dir, err)
	}
	return b
}

// createPolicy uploads wasm (unless it is there) and creates the SchedulingPolicy name with spec.
func (e *env) createPolicy(t *testing.T, name string, wasm []byte, spec v1.SchedulingPolicySpec) {
	t.Helper()
	modules := e.reg.StoreFor(v1.SchemeGroupVersion.WithKind("PolicyModule"))
	policies := e.reg.StoreFor(v1.SchemeGroupVersion.WithKind("SchedulingPolicy"))
	if _, err := modules.Create(t.Context(), "", &v1.PolicyModule{ObjectMeta: metav1.ObjectMeta{Name: v1.ObjectName(v1.Digest(wasm))},
		Spec: v1.PolicyModuleSpec{Wasm: wasm}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	spec.Module = v1.Digest(wasm)
	if _, err := policies.Create(t.Context(), "", &v1.SchedulingPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec},
		registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) shadowStatus(t *testing.T, name string) *v1.ShadowStatus {
	t.Helper()
	obj, err := e.reg.StoreFor(v1.SchemeGroupVersion.WithKind("SchedulingPolicy")).Get(t.Context(), "", name)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*v1.SchedulingPolicy).Status.Shadow
}

// TestShadowPolicies: mostallocated runs as a shadow of default-scheduler, and a module that
// traps on some pods as another. The default scheduler spreads and binds every pod; the shadows
// bind none, their status counts the decisions, the pods where mostallocated would have packed
// instead got a ShadowPlacement event, and the trapping shadow only counts failures.
func TestShadowPolicies(t *testing.T) {
	var packer, trap []byte
	var wg sync.WaitGroup
	wg.Go(func() {
		packer = guestModule(t, "wasm/examples/mostallocated/module", "wasm/examples/mostallocated", "wasm/policies/scheduler")
	})
	wg.Go(func() { trap = guestModule(t, "control/scheduler/testdata/trap") })
	wg.Wait()
	if t.Failed() {
		return
	}
	e := newEnv(t)
	for _, n := range []string{"n1", "n2", "n3"} {
		e.node(t, n, "4", "8Gi", 110)
	}
	e.createPolicy(t, "packer", packer, v1.SchedulingPolicySpec{Shadow: true}) // shadowOf defaults to default-scheduler
	e.createPolicy(t, "trapper", trap, v1.SchedulingPolicySpec{Shadow: true, ShadowOf: scheduler.DefaultSchedulerName})

	var mu sync.Mutex
	observed := map[string][]scheduler.ShadowDecision{}
	e.start(t, sdk.NewNativeScheduler(policy.Policy{}), func(c *scheduler.Config) {
		c.Uploads = true
		c.ShadowStatusInterval = 100 * time.Millisecond
		c.ObserveShadow = func(d scheduler.ShadowDecision) {
			mu.Lock()
			observed[d.Policy] = append(observed[d.Policy], d)
			mu.Unlock()
		}
	})

	// One pod at a time, so each decision sees the ones before it.
	nodeOf := map[string]string{}
	for _, name := range []string{"spread-0", "spread-1", "spread-2"} {
		e.pod(t, name, "500m", "512Mi")
		nodeOf[name] = e.boundTo(t, name)
	}
	// The trapping shadow fails on this one; the pod is scheduled all the same.
	e.pod(t, "trap", "777m", "512Mi")
	nodeOf["trap"] = e.boundTo(t, "trap")
	if len(map[string]bool{nodeOf["spread-0"]: true, nodeOf["spread-1"]: true, nodeOf["spread-2"]: true}) != 3 {
		t.Errorf("pods on %v: want three nodes (the default scheduler spreads; only a shadow would pack)", nodeOf)
	}
	for pod := range nodeOf {
		evs := e.events_(t, pod, "Scheduled")
		if len(evs) != 1 || evs[0].Source.Component != scheduler.DefaultSchedulerName {
			t.Errorf("Scheduled events of %s = %+v, want one from %s", pod, evs, scheduler.DefaultSchedulerName)
		}
		if w := e.warnings(t, pod); len(w) != 0 {
			t.Errorf("%s got FailedScheduling events %q", pod, w)
		}
	}

	// Loading a module compiles it (seconds, a minute under the race detector), off the hot path.
	want := map[string]v1.ShadowStatus{
		// spread-0 and trap: every node scores the same for mostallocated, so the default
		// scheduler's choice is among its best; spread-1 and -2 went to emptier nodes.
		"packer":  {Decisions: 4, Agreements: 2, Disagreements: 2},
		"trapper": {Decisions: 4, Agreements: 3, Failures: 1},
	}
	deadline := time.Now().Add(2 * time.Minute)
	for name, w := range want {
		for {
			got := e.shadowStatus(t, name)
			if got != nil && got.Decisions >= w.Decisions {
				last := got.LastDisagreement
				got.LastDisagreement = nil
				if *got != w {
					t.Errorf("%s status.shadow = %+v, want %+v", name, *got, w)
				}
				if name == "packer" && (last == nil || last.Pod != ns+"/spread-2" || last.ActiveNode != nodeOf["spread-2"] ||
					(last.ShadowNode != nodeOf["spread-0"] && last.ShadowNode != nodeOf["spread-1"]) || last.Time.IsZero()) {
					t.Errorf("packer lastDisagreement = %+v, want spread-2 on %s, shadow on %s or %s", last, nodeOf["spread-2"],
						nodeOf["spread-0"], nodeOf["spread-1"])
				}
				if name == "trapper" && last != nil {
					t.Errorf("trapper lastDisagreement = %+v, want none", last)
				}
				break
			}
			if time.Now().After(deadline) {
				mu.Lock()
				t.Fatalf("%s status.shadow = %+v; observed %+v", name, got, observed[name])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	mu.Lock()
	for _, d := range observed["trapper"] {
		if d.Result == scheduler.ShadowFailed && (d.Pod != ns+"/trap" || d.Err == nil) {
			t.Errorf("trapper failed on %s (%v), want only on the trap pod", d.Pod, d.Err)
		}
	}
	mu.Unlock()

	// The disagreements, and only they, are events on the pods.
	eventually(t, "ShadowPlacement events", func() (bool, string) {
		return len(e.events_(t, "spread-1", scheduler.ReasonShadowPlacement)) == 1 &&
			len(e.events_(t, "spread-2", scheduler.ReasonShadowPlacement)) == 1, "missing"
	})
	ev := e.events_(t, "spread-1", scheduler.ReasonShadowPlacement)[0]
	if msg := scheduler.ShadowMessage("packer", nodeOf["spread-0"], "default-scheduler", nodeOf["spread-1"]); ev.Message != msg ||
		ev.Type != corev1.EventTypeNormal {
		t.Errorf("spread-1 event = %s %q, want Normal %q", ev.Type, ev.Message, msg)
	}
	if ev.Message != fmt.Sprintf(`shadow policy "packer" would have placed this pod on %s (default-scheduler chose %s)`, nodeOf["spread-0"], nodeOf["spread-1"]) {
		t.Errorf("message worded %q", ev.Message)
	}
	for _, pod := range []string{"spread-0", "trap"} {
		if evs := e.events_(t, pod, scheduler.ReasonShadowPlacement); len(evs) != 0 {
			t.Errorf("%s got ShadowPlacement events %+v", pod, evs)
		}
	}

	// A pod naming a shadow policy is not scheduled by it, and is told why.
	e.pod(t, "named", "100m", "100Mi", schedulerName("packer"))
	e.waitWarning(t, "named", scheduler.ShadowOnlyMessage("packer", "default-scheduler"))
	if n := e.getPod(t, "named").Spec.NodeName; n != "" {
		t.Errorf("named bound to %s by a shadow policy", n)
	}
}
