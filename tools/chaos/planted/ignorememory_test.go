package planted

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/control/scheduler"
	"github.com/skiff-sh/skiff/raftstore/storetest"
	"github.com/skiff-sh/skiff/tools/chaos/check"
	"github.com/skiff-sh/skiff/tools/chaos/planted/ignorememory"
	"github.com/skiff-sh/skiff/tools/chaos/run"
	"github.com/skiff-sh/skiff/tools/policycli"
	"github.com/skiff-sh/skiff/wasm/build"
	policy "github.com/skiff-sh/skiff/wasm/policies/scheduler"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

// apiCluster is an API server over a one-member store with the scheduler
// host (the built-in policy, uploads allowed), and fake Nodes: no node
// daemon runs, pods are only bound.
type apiCluster struct {
	rest   *rest.Config
	client kubernetes.Interface
	// held are the pods a policy chose nodes for that the host's commit
	// check then refused (every chosen node "filled up").
	mu   sync.Mutex
	held map[string]bool
}

func newAPICluster(t *testing.T) *apiCluster {
	t.Helper()
	kv := storetest.New(t, 1, nil).Nodes[0].Store()
	reg := registry.NewRegistry(kv, resources.Default(kv))
	ca, err := pki.NewCA("chaos-planted-ca", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServing("chaos-planted", []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	token, err := pki.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := &apiCluster{held: map[string]bool{}}
	srv, err := apiserver.New(apiserver.Config{Store: kv, Certificate: cert, AdminTokenHash: pki.TokenHash(token),
		SkiffVersion: "test", Registry: reg, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.EnsureNamespaces(t.Context()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	sched, err := scheduler.New(reg, scheduler.Config{Policy: sdk.NewNativeScheduler(policy.Policy{}), Uploads: true, Workers: 2,
		UnschedulableCondition: true, InitialBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Logger: logger,
		Observe: func(a scheduler.Attempt) {
			if a.Result == "error" && a.Err != nil && strings.Contains(a.Err.Error(), "filled up") {
				c.mu.Lock()
				c.held[strings.TrimPrefix(a.Pod, "default/")] = true
				c.mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- sched.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("scheduler: %v", err)
		}
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	rc := &rest.Config{Host: "https://" + ln.Addr().String(), BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM}}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	c.rest, c.client = rc, client
	return c
}

// node creates a Ready fake Node with 4 CPUs and 1Gi of memory.
func (c *apiCluster) node(t *testing.T, name string) {
	t.Helper()
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("1Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Capacity: alloc, Allocatable: alloc,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	created, err := c.client.CoreV1().Nodes().Create(t.Context(), n, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status = n.Status
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(t.Context(), created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// pods creates n pods requesting 100m CPU and 400Mi memory each, for the
// scheduler named, and waits until each is bound, marked unschedulable, or
// held back by the host's commit check; it returns how many were bound.
func (c *apiCluster) pods(t *testing.T, n int, schedulerName string) int {
	t.Helper()
	req := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("400Mi")}
	for i := range n {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("mem-%d", i)}, Spec: corev1.PodSpec{SchedulerName: schedulerName,
			Containers: []corev1.Container{{Name: "c", Image: "hello", Resources: corev1.ResourceRequirements{Requests: req}}}}}
		if _, err := c.client.CoreV1().Pods("default").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Loading an uploaded module compiles it: allow minutes on a busy machine.
	deadline := time.Now().Add(3 * time.Minute)
	if schedulerName == corev1.DefaultSchedulerName {
		deadline = time.Now().Add(time.Minute)
	}
	for {
		list, err := c.client.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bound, decided := 0, 0
		for _, p := range list.Items {
			switch {
			case p.Spec.NodeName != "":
				bound++
				decided++
			case unschedulable(&p) || c.isHeld(p.Name):
				decided++
			}
		}
		if decided == n {
			return bound
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pods decided by %s within the deadline", decided, n, schedulerName)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *apiCluster) isHeld(pod string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held[pod]
}

func unschedulable(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}

// converge runs the chaos run's convergence check (no Deployments: only
// the node over-commitment part) against the cluster.
func (c *apiCluster) converge(t *testing.T) check.Verdict {
	t.Helper()
	return run.Converge(t.Context(), c.client, run.ConvergeConfig{Namespace: "default", Bound: 10 * time.Second})
}

// buildIgnoreMemory builds the planted module (cached by its sources).
func buildIgnoreMemory(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	pkg := filepath.Join(root, "tools", "chaos", "planted", "ignorememory")
	wasm, err := build.Cached(ctx, filepath.Join(pkg, "module"), pkg, filepath.Join(root, "wasm", "policies", "scheduler"),
		filepath.Join(root, "wasm", "sdk"), filepath.Join(root, "wasm", "abi"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ignore-memory.wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// bindIgnoringMemory is the planted scheduler: it binds every pending pod
// through pods/binding, round-robin over the nodes, looking at no request,
// as an external scheduler may (the API server, like Kubernetes', does not
// check resources on a binding). It returns how many it bound.
func (c *apiCluster) bindIgnoringMemory(t *testing.T, nodes ...string) int {
	t.Helper()
	list, err := c.client.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bound := 0
	for i, p := range list.Items {
		if p.Spec.NodeName != "" {
			continue
		}
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID}, Target: corev1.ObjectReference{Kind: "Node", Name: nodes[i%len(nodes)]}}
		if err := c.client.CoreV1().Pods("default").Bind(t.Context(), b, metav1.CreateOptions{}); err != nil {
			t.Fatalf("binding %s: %v", p.Name, err)
		}
		bound++
	}
	return bound
}

// TestPlantedSchedulerIgnoringMemoryOvercommits: six pods requesting
// 400Mi each on two nodes of 1Gi (two fit on each).
//   - The built-in scheduler binds four and leaves two unschedulable;
//     convergence passes.
//   - A scheduler module whose filter ignores memory (pushed as a
//     SchedulingPolicy, chosen by spec.schedulerName) cannot over-commit:
//     the scheduler host re-checks NodeResourcesFit when it commits a
//     decision, so it too binds four; convergence passes.
//   - A scheduler that ignores memory and binds through pods/binding
//     itself binds all six, and convergence must report both nodes
//     over-committed by memory.
func TestPlantedSchedulerIgnoringMemoryOvercommits(t *testing.T) {
	setup := func(t *testing.T) *apiCluster {
		c := newAPICluster(t)
		c.node(t, "n1")
		c.node(t, "n2")
		return c
	}
	t.Run("built-in scheduler", func(t *testing.T) {
		c := setup(t)
		if bound := c.pods(t, 6, corev1.DefaultSchedulerName); bound != 4 {
			t.Errorf("the built-in scheduler bound %d pods, want 4 (two per 1Gi node)", bound)
		}
		if v := c.converge(t); v.Result != check.Pass || v.Violations != 0 {
			t.Errorf("convergence after the built-in scheduler: %s %v", v, v.Details)
		}
	})
	t.Run("module ignoring memory, held by the host", func(t *testing.T) {
		module := buildIgnoreMemory(t)
		c := setup(t)
		client, err := policycli.NewClient(c.rest)
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		if code := policycli.Run(t.Context(), []string{"push", ignorememory.Name, module}, &out, &errOut, client); code != 0 {
			t.Fatalf("policy push = %d\n%s%s", code, out.String(), errOut.String())
		}
		if bound := c.pods(t, 6, ignorememory.Name); bound != 4 {
			t.Errorf("the ignore-memory module got %d pods bound, want 4: the host's commit check should hold it", bound)
		}
		c.mu.Lock()
		held := len(c.held)
		c.mu.Unlock()
		if held != 2 {
			t.Errorf("%d pods were chosen nodes by the module and held by the host, want 2 (is the module in use?)", held)
		}
		if v := c.converge(t); v.Result != check.Pass || v.Violations != 0 {
			t.Errorf("convergence after the ignore-memory module: %s %v", v, v.Details)
		}
	})
	t.Run("binder ignoring memory", func(t *testing.T) {
		c := setup(t)
		req := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("400Mi")}
		for i := range 6 {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("mem-%d", i)}, Spec: corev1.PodSpec{SchedulerName: "planted-binder",
				Containers: []corev1.Container{{Name: "c", Image: "hello", Resources: corev1.ResourceRequirements{Requests: req}}}}}
			if _, err := c.client.CoreV1().Pods("default").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if bound := c.bindIgnoringMemory(t, "n1", "n2"); bound != 6 {
			t.Fatalf("the planted binder bound %d pods, want 6", bound)
		}
		v := c.converge(t)
		t.Logf("%s %v", v, v.Details)
		if v.Result != check.Fail || v.Violations != 2 {
			t.Fatalf("the convergence checker missed the over-committed nodes: %s %v", v, v.Details)
		}
		for _, d := range v.Details {
			if !strings.Contains(d, "memory") || !strings.Contains(d, "1200Mi") {
				t.Errorf("violation %q is not 1200Mi of memory on a 1Gi node", d)
			}
		}
	})
}
