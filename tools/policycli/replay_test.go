package policycli

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore/storetest"
	"github.com/skiff-sh/skiff/wasm/build"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
	"github.com/skiff-sh/skiff/wasm/snapshot"
)

// apiServer starts an in-process API server over a one-member store, with no scheduler (pods
// stay pending), and returns its registry and a client of it.
func apiServer(t *testing.T) (*registry.Registry, rest.Interface) {
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
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	client, err := NewClient(&rest.Config{Host: "https://" + ln.Addr().String(), BearerToken: token,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM}})
	if err != nil {
		t.Fatal(err)
	}
	return reg, client
}

func testNode(name string) *corev1.Node {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Capacity: alloc, Allocatable: alloc,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func testPod(name, node, cpu, mem string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1",
		Kind: "ReplicaSet", Name: "web", UID: types.UID("web-uid"), Controller: new(true)}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "hello",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}}}
}

// exampleModule builds the mostallocated example (cached by its sources) into a file.
func exampleModule(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := "../../wasm"
	b, err := build.Cached(ctx, exampleDir, filepath.Join(w, "examples", "mostallocated"), filepath.Join(w, "policies", "scheduler"),
		filepath.Join(w, "sdk"), filepath.Join(w, "abi"))
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "mostallocated.wasm", b)
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, client rest.Interface, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(t.Context(), args, &out, &errOut, client)
	return code, out.String(), errOut.String()
}

// row is a result row of `policy test`: pod, module's node, reference's node, agreement.
var rowRE = regexp.MustCompile(`(?m)^(default/\S+)\s+(\S+) \(score \d+[^)]*\)\s+(\S+) \(score \d+[^)]*\)\s+(yes|NO)`)

func rows(out string) map[string][3]string {
	m := map[string][3]string{}
	for _, r := range rowRE.FindAllStringSubmatch(out, -1) {
		m[r[1]] = [3]string{r[2], r[3], r[4]}
	}
	return m
}

// TestRecordAndReplay records a snapshot from an in-process API server (n1 half full, n2 and
// n3 empty, two pending pods) and replays it: the packing example disagrees with the default
// scheduler (it packs onto n1, the default spreads), agrees exactly with its own source run
// natively (compiled in, or built from its directory), and the default module agrees with the
// default scheduler.
func TestRecordAndReplay(t *testing.T) {
	reg, client := apiServer(t)
	nodes := reg.Store(corev1.SchemeGroupVersion.WithResource("nodes"))
	pods := reg.Store(corev1.SchemeGroupVersion.WithResource("pods"))
	for _, n := range []string{"n3", "n1", "n2"} {
		if _, err := nodes.Create(t.Context(), "", testNode(n), registry.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*corev1.Pod{testPod("old", "n1", "2", "4Gi"), testPod("new-0", "", "500m", "512Mi"), testPod("new-1", "", "500m", "512Mi")} {
		if _, err := pods.Create(t.Context(), "default", p, registry.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	module := exampleModule(t)
	snapPath := filepath.Join(t.TempDir(), "snap.json")

	// Record, then replay against the default scheduler: a forced disagreement.
	code, out, errOut := run(t, client, "test", module, "--record", snapPath)
	t.Logf("policy test --record:\n%s%s", out, errOut)
	if code != 1 || !strings.Contains(errOut, "decisions differ: 2 of 2 pods") {
		t.Fatalf("test --record = %d, want 1 (disagreement)\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"recorded " + snapPath + ": 3 nodes, 1 bound pods, 2 pending pods", "vs the built-in default scheduler", "no --native given"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	got := rows(out)
	if got["default/new-0"] != [3]string{"n1", "n2", "NO"} || got["default/new-1"] != [3]string{"n1", "n2", "NO"} {
		t.Errorf("rows %v, want both pods packed on n1 by the module and spread to n2 by the default:\n%s", got, out)
	}
	snap, err := snapshot.ReadFile(snapPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Nodes) != 3 || snap.Nodes[0].Name != "n1" || len(snap.Bound) != 1 || len(snap.Pending) != 2 || !strings.HasPrefix(snap.Source, "127.0.0.1:") {
		t.Errorf("recorded snapshot: %d nodes (first %s), %d bound, %d pending, source %q", len(snap.Nodes), snap.Nodes[0].Name, len(snap.Bound), len(snap.Pending), snap.Source)
	}

	// The module against its own source: compiled into skiff, and built natively from its directory.
	for _, native := range []string{"mostallocated", exampleDir} {
		code, out, errOut = run(t, nil, "test", module, "--snapshot", snapPath, "--native", native)
		if code != 0 || !strings.Contains(out, "all 2 pods decided alike") || !strings.Contains(out, "identical verdicts and scores") {
			t.Errorf("test --native %s = %d, want 0\n%s%s", native, code, out, errOut)
		}
		if got := rows(out); got["default/new-1"] != [3]string{"n1", "n1", "yes"} {
			t.Errorf("--native %s: rows %v", native, got)
		}
	}
	// The default module agrees with the default scheduler; new-1 avoids new-0's node (spreading).
	def := writeFile(t, "default.wasm", builtintest.Scheduler(t))
	code, out, errOut = run(t, nil, "test", "--snapshot", snapPath, def)
	if code != 0 {
		t.Errorf("test of the default module = %d, want 0\n%s%s", code, out, errOut)
	}
	if got := rows(out); got["default/new-0"] != [3]string{"n2", "n2", "yes"} || got["default/new-1"] != [3]string{"n3", "n3", "yes"} {
		t.Errorf("default module: rows %v\n%s", got, out)
	}
}

func TestTestUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"nothing", []string{"test"}, 2, "needs --snapshot"},
		{"no module", []string{"test", "--snapshot", "s.json"}, 2, "needs a module"},
		{"both", []string{"test", "m.wasm", "--snapshot", "s.json", "--record", "r.json"}, 2, "not both"},
		{"two modules", []string{"test", "a.wasm", "b.wasm", "--snapshot", "s.json"}, 2, "one module"},
		{"record without a cluster", []string{"test", "--record", filepath.Join(t.TempDir(), "r.json")}, 1, "no cluster"},
		{"missing snapshot", []string{"test", "m.wasm", "--snapshot", filepath.Join(t.TempDir(), "none.json")}, 1, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.inStderr) {
				t.Errorf("code %d, stderr %q; want %d and %q", code, errOut, tt.code, tt.inStderr)
			}
		})
	}
}

// TestNativeUnknownName: --native must name a directory or a compiled-in policy.
func TestNativeUnknownName(t *testing.T) {
	if _, _, _, err := nativeReference(t.Context(), "no-such-policy"); err == nil || !strings.Contains(err.Error(), "default-scheduler, mostallocated") {
		t.Errorf("nativeReference = %v, want the known names", err)
	}
}
