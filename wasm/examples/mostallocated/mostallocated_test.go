package mostallocated_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/control/scheduler"
	"github.com/skiff-sh/skiff/raftstore/storetest"
	"github.com/skiff-sh/skiff/tools/policycli"
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/build"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
	"github.com/skiff-sh/skiff/wasm/examples/mostallocated"
	policy "github.com/skiff-sh/skiff/wasm/policies/scheduler"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

// TestScore: the fuller node scores higher; a full node scores the most.
func TestScore(t *testing.T) {
	s := sdk.NewNativeScheduler(mostallocated.Policy{})
	in := &abi.Input{Pod: abi.PodInput{CPUMilli: 500, MemoryBytes: 512 << 20}, Strings: []string{"", "empty", "half", "full"},
		Nodes: []abi.NodeInput{
			{Name: 1, AllocCPUMilli: 4000, AllocMemory: 8 << 30, AllocPods: 110, Flags: abi.NodeReady},
			{Name: 2, AllocCPUMilli: 4000, AllocMemory: 8 << 30, AllocPods: 110, Flags: abi.NodeReady, ReqCPUMilli: 2000, ReqMemory: 4 << 30},
			{Name: 3, AllocCPUMilli: 4000, AllocMemory: 8 << 30, AllocPods: 110, Flags: abi.NodeReady, ReqCPUMilli: 3500, ReqMemory: 7<<30 + 512<<20},
		}}
	var out abi.Result
	if err := s.Schedule(context.Background(), in, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Feasible) != 3 {
		t.Fatalf("feasible = %v, want all three", out.Feasible)
	}
	score := map[uint32]int32{}
	for j, i := range out.Feasible {
		score[in.Nodes[i].Name] = out.Scores[j]
	}
	if !(score[3] > score[2] && score[2] > score[1]) || score[3] != abi.MaxScore {
		t.Errorf("scores empty %d, half %d, full %d: want rising, full = %d", score[1], score[2], score[3], abi.MaxScore)
	}
}

// cluster is an in-process API server and scheduler over a one-member store.
type cluster struct {
	reg  *registry.Registry
	pods *registry.Store
	rest *rest.Config
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	kv := storetest.New(t, 1, nil).Nodes[0].Store()
	reg := registry.NewRegistry(kv, resources.Default(kv))
	ca, err := pki.NewCA("test-ca", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServing("test", []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	token, err := pki.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
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
		InitialBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Logger: logger})
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
	return &cluster{reg: reg, pods: reg.Store(corev1.SchemeGroupVersion.WithResource("pods")),
		rest: &rest.Config{Host: "https://" + ln.Addr().String(), BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM}}}
}

func (c *cluster) node(t *testing.T, name string) {
	t.Helper()
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Capacity: alloc, Allocatable: alloc,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if _, err := c.reg.Store(corev1.SchemeGroupVersion.WithResource("nodes")).Create(t.Context(), "", n, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// schedule creates a pod and waits until it is bound (loading a module
// compiles it: up to a minute under the race detector).
func (c *cluster) schedule(t *testing.T, name, schedulerName string) string {
	t.Helper()
	req := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{SchedulerName: schedulerName,
		Containers: []corev1.Container{{Name: "c", Image: "hello", Resources: corev1.ResourceRequirements{Requests: req}}}}}
	if _, err := c.pods.Create(t.Context(), "default", p, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		obj, err := c.pods.Get(t.Context(), "default", name)
		if err != nil {
			t.Fatal(err)
		}
		if n := obj.(*corev1.Pod).Spec.NodeName; n != "" {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s not scheduled", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *cluster) policy(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	client, err := policycli.NewClient(c.rest)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := policycli.Run(t.Context(), args, &out, &errOut, client)
	return code, out.String(), errOut.String()
}

func buildModule(t *testing.T) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	wasm := filepath.Join(dir, "..", "..")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := build.Cached(ctx, filepath.Join(dir, "module"), dir, filepath.Join(wasm, "policies", "scheduler"),
		filepath.Join(wasm, "sdk"), filepath.Join(wasm, "abi"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUploadedSchedulerPacks builds the module, pushes it with `skiff policy
// push` through the API, and checks that its pods pack onto one node while
// default-scheduler pods spread; then pushes another module and rolls back.
func TestUploadedSchedulerPacks(t *testing.T) {
	wasm := buildModule(t)
	file := filepath.Join(t.TempDir(), "mostallocated.wasm")
	if err := os.WriteFile(file, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t)
	for _, n := range []string{"n1", "n2", "n3"} {
		c.node(t, n)
	}
	code, out, errOut := c.policy(t, "push", "mostallocated", file)
	if code != 0 {
		t.Fatalf("push = %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "uploaded") || !strings.Contains(out, "schedulingpolicy/mostallocated created: module "+v1.Digest(wasm)) {
		t.Errorf("push printed:\n%s", out)
	}

	packed := c.schedule(t, "pack-0", "mostallocated")
	for _, name := range []string{"pack-1", "pack-2", "pack-3"} {
		if n := c.schedule(t, name, "mostallocated"); n != packed {
			t.Errorf("%s on %s, want %s with the others (bin-packing)", name, n, packed)
		}
	}
	spread := map[string]bool{}
	for _, name := range []string{"spread-0", "spread-1"} {
		n := c.schedule(t, name, "default-scheduler")
		if n == packed {
			t.Errorf("default-scheduler put %s on the packed node %s", name, n)
		}
		spread[n] = true
	}
	if len(spread) != 2 {
		t.Errorf("default-scheduler pods on %v, want two nodes", spread)
	}

	code, out, _ = c.policy(t, "list")
	if code != 0 || !strings.Contains(out, "mostallocated") || !strings.Contains(out, v1.Short(v1.Digest(wasm))) {
		t.Errorf("list = %d:\n%s", code, out)
	}

	// A garbage module is refused with the reason.
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(bad, []byte("not wasm at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = c.policy(t, "push", "mostallocated", bad)
	if code != 1 || !strings.Contains(errOut, "spec.wasm") || !strings.Contains(errOut, "does not compile") {
		t.Errorf("push of garbage = %d, stderr:\n%s", code, errOut)
	}

	// Push the default scheduler under the same name, then roll back.
	def := filepath.Join(t.TempDir(), "default.wasm")
	if err := os.WriteFile(def, builtintest.Scheduler(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := c.policy(t, "push", "mostallocated", def); code != 0 || !strings.Contains(out, "updated") {
		t.Fatalf("push default = %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := c.policy(t, "rollback", "mostallocated"); code != 0 || !strings.Contains(out, v1.Digest(wasm)) {
		t.Fatalf("rollback = %d\n%s%s", code, out, errOut)
	}
	obj, err := c.reg.Store(v1.SchemeGroupVersion.WithResource("schedulingpolicies")).Get(t.Context(), "", "mostallocated")
	if err != nil {
		t.Fatal(err)
	}
	p := obj.(*v1.SchedulingPolicy)
	if p.Spec.Module != v1.Digest(wasm) || len(p.Status.History) != 3 {
		t.Errorf("after rollback: module %s, history %+v; want %s and three revisions", p.Spec.Module, p.Status.History, v1.Digest(wasm))
	}
	// The rolled-back module runs at once: the next pod packs again.
	if n := c.schedule(t, "pack-4", "mostallocated"); n != packed {
		t.Errorf("pack-4 on %s after rollback, want %s", n, packed)
	}
}
