package scheduler_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/scheduler"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
	policy "github.com/skiff-sh/skiff/wasm/policies/scheduler"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

func schedulerName(name string) podOpt { return func(p *corev1.Pod) { p.Spec.SchedulerName = name } }

// events are the pod's events with reason.
func (e *env) events_(t *testing.T, pod, reason string) []corev1.Event {
	t.Helper()
	obj, err := e.events.List(t.Context(), ns, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, ev := range obj.(*corev1.EventList).Items {
		if ev.InvolvedObject.Name == pod && ev.Reason == reason {
			out = append(out, ev)
		}
	}
	return out
}

// TestUnknownSchedulerName: a pod naming no scheduler that exists gets one FailedScheduling
// event however often it changes, and is scheduled once a SchedulingPolicy of that name
// appears; the policy reports its module Loaded.
func TestUnknownSchedulerName(t *testing.T) {
	wasm := builtintest.Scheduler(t)
	e := newEnv(t)
	e.node(t, "n1", "4", "8Gi", 110)
	e.start(t, sdk.NewNativeScheduler(policy.Policy{}), func(c *scheduler.Config) { c.Uploads = true })

	e.pod(t, "custom", "100m", "100Mi", schedulerName("binpack"))
	want := scheduler.NoSchedulerMessage("binpack")
	e.waitWarning(t, "custom", want)
	if want != `no scheduler named "binpack": create a SchedulingPolicy named "binpack" or use default-scheduler` {
		t.Errorf("message = %s", want)
	}
	// Changes of the pod do not repeat the event.
	for i := range 3 {
		_, _, err := e.pods.Update(t.Context(), ns, "custom", func(cur runtime.Object) (runtime.Object, error) {
			p := cur.(*corev1.Pod)
			p.Labels = map[string]string{"i": fmt.Sprint(i)}
			return p, nil
		}, registry.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A default-scheduler pod created after the changes is seen after them: once it is
	// scheduled, the changes have been handled.
	e.pod(t, "plain", "100m", "100Mi")
	e.boundTo(t, "plain")
	eventually(t, "Scheduled event of plain", func() (bool, string) { return len(e.events_(t, "plain", "Scheduled")) == 1, "none" })
	if evs := e.events_(t, "custom", "FailedScheduling"); len(evs) != 1 || evs[0].Count != 1 || evs[0].Type != corev1.EventTypeWarning {
		t.Fatalf("FailedScheduling events of custom = %+v, want one Warning with count 1", evs)
	}
	if n := e.getPod(t, "custom").Spec.NodeName; n != "" {
		t.Fatalf("custom bound to %s without a scheduler", n)
	}

	// The policy appears: the pod is scheduled by it.
	modules := e.reg.StoreFor(v1.SchemeGroupVersion.WithKind("PolicyModule"))
	policies := e.reg.StoreFor(v1.SchemeGroupVersion.WithKind("SchedulingPolicy"))
	if _, err := modules.Create(t.Context(), "", &v1.PolicyModule{ObjectMeta: metav1.ObjectMeta{Name: v1.ObjectName(v1.Digest(wasm))},
		Spec: v1.PolicyModuleSpec{Wasm: wasm}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := policies.Create(t.Context(), "", &v1.SchedulingPolicy{ObjectMeta: metav1.ObjectMeta{Name: "binpack"},
		Spec: v1.SchedulingPolicySpec{Module: v1.Digest(wasm)}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Loading compiles the module: seconds, a minute under the race detector.
	deadline := time.Now().Add(2 * time.Minute)
	for e.getPod(t, "custom").Spec.NodeName == "" {
		if time.Now().After(deadline) {
			t.Fatalf("custom not bound; events %q", e.warnings(t, "custom"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	eventually(t, "policy Loaded", func() (bool, string) {
		obj, err := policies.Get(t.Context(), "", "binpack")
		if err != nil {
			return false, err.Error()
		}
		p := obj.(*v1.SchedulingPolicy)
		for _, c := range p.Status.Conditions {
			if c.Type == v1.ConditionLoaded {
				return c.Status == metav1.ConditionTrue && p.Status.ObservedGeneration == p.Generation, fmt.Sprintf("%+v", p.Status)
			}
		}
		return false, fmt.Sprintf("%+v", p.Status)
	})

	// A pod naming the policy from the start is scheduled without a warning.
	e.pod(t, "custom2", "100m", "100Mi", schedulerName("binpack"))
	e.boundTo(t, "custom2")
	if evs := e.events_(t, "custom2", "FailedScheduling"); len(evs) != 0 {
		t.Errorf("custom2 got FailedScheduling events: %+v", evs)
	}
}

// TestMissingModuleWaits: a policy whose module cannot be loaded (deleted after the policy was
// accepted) keeps its pods pending with an event that says why.
func TestMissingModuleWaits(t *testing.T) {
	wasm := builtintest.Scheduler(t)
	e := newEnv(t)
	e.node(t, "n1", "4", "8Gi", 110)
	modules := e.reg.StoreFor(v1.SchemeGroupVersion.WithKind("PolicyModule"))
	policies := e.reg.StoreFor(v1.SchemeGroupVersion.WithKind("SchedulingPolicy"))
	name := v1.ObjectName(v1.Digest(wasm))
	if _, err := modules.Create(t.Context(), "", &v1.PolicyModule{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PolicyModuleSpec{Wasm: wasm}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := policies.Create(t.Context(), "", &v1.SchedulingPolicy{ObjectMeta: metav1.ObjectMeta{Name: "gone"},
		Spec: v1.SchedulingPolicySpec{Module: v1.Digest(wasm)}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := modules.Delete(t.Context(), "", name, nil); err != nil {
		t.Fatal(err)
	}
	e.start(t, sdk.NewNativeScheduler(policy.Policy{}), func(c *scheduler.Config) { c.Uploads = true })
	e.pod(t, "p", "100m", "100Mi", schedulerName("gone"))
	want := fmt.Sprintf(`loading scheduling policy "gone" (module %s): resources: policy module not found: %s`, v1.Digest(wasm), v1.Digest(wasm))
	e.waitWarning(t, "p", want)
	if n := e.getPod(t, "p").Spec.NodeName; n != "" {
		t.Errorf("p bound to %s", n)
	}
}
