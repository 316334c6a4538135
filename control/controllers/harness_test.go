package controllers_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/controllers"
	"github.com/skiff-sh/skiff/control/gc"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore/storetest"
	"github.com/skiff-sh/skiff/wasm/build"
	wasmruntime "github.com/skiff-sh/skiff/wasm/runtime"
)

const ns = "default"

// env is a registry with the garbage collector, the controllers and a fake kubelet running.
type env struct {
	t                  *testing.T
	reg                *registry.Registry
	deploys, rss, pods *registry.Store
	events             *registry.Store
	// ready decides whether the fake kubelet makes a pod Running and Ready.
	ready atomic.Pointer[func(*corev1.Pod) bool]
}

// newEnv starts everything with the given policies; it all stops when the test ends.
func newEnv(t *testing.T, policies map[string]controllers.Reconciler) *env {
	t.Helper()
	c := storetest.New(t, 1, nil)
	opts := resources.DefaultOptions(c.Nodes[0].Store())
	opts.Logger = slog.New(slog.DiscardHandler)
	res, err := resources.All(opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.NewRegistry(c.Nodes[0].Store(), res)
	if _, err := reg.Namespaces().Create(t.Context(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, reg: reg,
		deploys: reg.Store(appsv1.SchemeGroupVersion.WithResource("deployments")),
		rss:     reg.Store(appsv1.SchemeGroupVersion.WithResource("replicasets")),
		pods:    reg.Store(corev1.SchemeGroupVersion.WithResource("pods")),
		events:  reg.Store(corev1.SchemeGroupVersion.WithResource("events")),
	}
	always := func(*corev1.Pod) bool { return true }
	e.ready.Store(&always)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := gc.New(reg, logger).Run(ctx); err != nil {
			t.Errorf("gc: %v", err)
		}
	})
	ctrl := controllers.New(reg, policies, logger)
	ctrl.Workers = 2
	wg.Go(func() {
		if err := ctrl.Run(ctx); err != nil {
			t.Errorf("controllers: %v", err)
		}
	})
	wg.Go(func() { e.kubelet(ctx) })
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("controllers did not stop")
		}
	})
	return e
}

// kubelet marks pods Running and Ready (when e.ready says so), as a node would.
func (e *env) kubelet(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		list, err := e.pods.List(ctx, ns, metav1.ListOptions{})
		if err != nil {
			continue
		}
		ready := *e.ready.Load()
		for _, p := range list.(*corev1.PodList).Items {
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodRunning || !ready(&p) {
				continue
			}
			_, _, _ = e.pods.Update(ctx, ns, p.Name, func(cur runtime.Object) (runtime.Object, error) {
				pod := cur.(*corev1.Pod)
				now := metav1.Now()
				pod.Status.Phase = corev1.PodRunning
				pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
				return pod, nil
			}, registry.UpdateOptions{Subresource: "status"})
		}
	}
}

func (e *env) setReady(f func(*corev1.Pod) bool) { e.ready.Store(&f) }

// eventually polls cond until it holds, failing with its last complaint after timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) deployment(name string) *appsv1.Deployment {
	e.t.Helper()
	obj, err := e.deploys.Get(context.Background(), ns, name)
	if err != nil {
		e.t.Fatalf("get deployment %s: %v", name, err)
	}
	return obj.(*appsv1.Deployment)
}

func (e *env) updateDeployment(name string, f func(*appsv1.Deployment)) {
	e.t.Helper()
	_, _, err := e.deploys.Update(context.Background(), ns, name, func(cur runtime.Object) (runtime.Object, error) {
		d := cur.(*appsv1.Deployment)
		f(d)
		d.ResourceVersion = "" // unconditional: retried on a race with the controllers, as a patch is
		return d, nil
	}, registry.UpdateOptions{})
	if err != nil {
		e.t.Fatalf("update deployment %s: %v", name, err)
	}
}

// replicaSets are the ReplicaSets controlled by the object with uid.
func (e *env) replicaSets(uid string) []appsv1.ReplicaSet {
	e.t.Helper()
	list, err := e.rss.List(context.Background(), ns, metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.(*appsv1.ReplicaSetList).Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && string(ref.UID) == uid {
			out = append(out, rs)
		}
	}
	return out
}

// podsOf are the live pods controlled by the object with uid.
func (e *env) podsOf(uid string) []corev1.Pod {
	e.t.Helper()
	list, err := e.pods.List(context.Background(), ns, metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.(*corev1.PodList).Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && string(ref.UID) == uid && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func (e *env) eventReasons(name string) map[string]int {
	e.t.Helper()
	list, err := e.events.List(context.Background(), ns, metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, ev := range list.(*corev1.EventList).Items {
		if ev.InvolvedObject.Name == name {
			out[ev.Reason]++
		}
	}
	return out
}

// rolloutStatus is kubectl rollout status's check (DeploymentStatusViewer): done, or an error
// saying what is still pending; fatal on ProgressDeadlineExceeded.
func rolloutStatus(d *appsv1.Deployment) (done bool, msg string, failed bool) {
	if d.Generation > d.Status.ObservedGeneration {
		return false, "waiting for the deployment spec update to be observed", false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return false, fmt.Sprintf("deployment %q exceeded its progress deadline", d.Name), true
		}
	}
	want := *d.Spec.Replicas
	switch {
	case d.Status.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d out of %d new replicas have been updated", d.Status.UpdatedReplicas, want), false
	case d.Status.Replicas > d.Status.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas are pending termination", d.Status.Replicas-d.Status.UpdatedReplicas), false
	case d.Status.AvailableReplicas < d.Status.UpdatedReplicas:
		return false, fmt.Sprintf("%d of %d updated replicas are available", d.Status.AvailableReplicas, d.Status.UpdatedReplicas), false
	}
	return true, "successfully rolled out", false
}

func (e *env) waitRolledOut(name string) *appsv1.Deployment {
	e.t.Helper()
	var d *appsv1.Deployment
	eventually(e.t, 20*time.Second, func() error {
		d = e.deployment(name)
		done, msg, failed := rolloutStatus(d)
		if failed {
			e.t.Fatalf("rollout of %s failed: %s", name, msg)
		}
		if !done {
			return fmt.Errorf("rollout of %s: %s (status %+v)", name, msg, d.Status)
		}
		return nil
	})
	return d
}

func notFound(err error) bool { return apierrors.IsNotFound(err) }

var (
	modulesOnce sync.Once
	modules     map[string][]byte
	modulesErr  error
)

// wasmPolicies builds the built-in modules (cached by source hash) and loads them into a host.
func wasmPolicies(t *testing.T) map[string]controllers.Reconciler {
	t.Helper()
	modulesOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		deps := []string{"../../wasm/policies", "../../wasm/sdk", "../../wasm/abi"}
		modules = map[string][]byte{}
		for name, dir := range map[string]string{
			controllers.ReplicaSetModule: "../../wasm/policies/replicaset/module",
			controllers.DeploymentModule: "../../wasm/policies/deployment/module",
		} {
			b, err := build.Cached(ctx, dir, deps...)
			if err != nil {
				modulesErr = err
				return
			}
			modules[name] = b
		}
	})
	if modulesErr != nil {
		t.Fatalf("build modules: %v", modulesErr)
	}
	host, err := wasmruntime.New(context.Background(), wasmruntime.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close(context.Background()) })
	policies, closeAll, err := controllers.Load(t.Context(), host, modules)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(context.Background()) })
	return policies
}
