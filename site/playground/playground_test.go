package playground_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/site/playground"
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/build"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
	"github.com/skiff-sh/skiff/wasm/runtime"
	"github.com/skiff-sh/skiff/wasm/snapshot"
)

func quantities(cpu, mem, pods string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	if pods != "" {
		l[corev1.ResourcePods] = resource.MustParse(pods)
	}
	return l
}

func node(name, cpu, mem string, change func(*corev1.Node)) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{Allocatable: quantities(cpu, mem, "110"), Capacity: quantities(cpu, mem, "110"),
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if change != nil {
		change(&n)
	}
	return n
}

func pod(name, nodeName, cpu, mem, owner string, change func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: quantities(cpu, mem, "")}}}}}
	if owner != "" {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner, UID: types.UID("uid-" + owner), Controller: &yes}}
	}
	if change != nil {
		change(&p)
	}
	return p
}

// scenario covers every field the records carry: labels, taints,
// unschedulable and NotReady nodes, images, selectors, tolerations,
// affinity with Gt and match fields, init containers, overhead, priority,
// owners with pods already bound.
func scenario() *playground.Scenario {
	prio := int32(7)
	return &playground.Scenario{Version: playground.Version, Source: "test",
		Nodes: []corev1.Node{
			node("a", "4", "8Gi", func(n *corev1.Node) {
				n.Labels["zone"] = "z1"
				n.Labels["gen"] = "5"
				n.Status.Images = []corev1.ContainerImage{{Names: []string{"busybox", "docker.io/library/busybox:1.36"}, SizeBytes: 5 << 20}}
			}),
			node("b", "2", "4Gi", func(n *corev1.Node) {
				n.Labels["zone"] = "z2"
				n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
					{Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule}}
			}),
			node("c", "8", "16Gi", func(n *corev1.Node) { n.Spec.Unschedulable = true }),
			node("d", "1", "1Gi", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }),
			node("e", "16", "32Gi", func(n *corev1.Node) { n.Status.Allocatable = nil; n.Labels["zone"] = "z1" }),
		},
		Bound: []corev1.Pod{
			pod("web-0", "a", "1", "1Gi", "web", nil),
			pod("web-1", "e", "500m", "512Mi", "web", nil),
			pod("gone", "nowhere", "1", "1Gi", "", nil),
		},
		Pending: []corev1.Pod{
			pod("web-2", "", "500m", "256Mi", "web", nil),
			pod("web-3", "", "500m", "256Mi", "web", nil),
			pod("big", "", "6", "12Gi", "", func(p *corev1.Pod) { p.Spec.Priority = &prio }),
			pod("zoned", "", "100m", "64Mi", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "z2", "x": ""} }),
			pod("tolerant", "", "100m", "64Mi", "", func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
					{Operator: corev1.TolerationOpExists}}
			}),
			pod("affine", "", "100m", "64Mi", "", func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{
						{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "gen", Operator: corev1.NodeSelectorOpGt, Values: []string{"3"}}}},
						{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}},
						{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: "Bogus"}}},
					}}}}
			}),
			pod("init", "", "100m", "64Mi", "", func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "i", Image: "alpine:3@sha256:00", Resources: corev1.ResourceRequirements{Requests: quantities("3", "3Gi", "")}}}
				p.Spec.Overhead = quantities("50m", "10Mi", "")
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "d", Image: "registry:5000/app"})
			}),
		},
	}
}

// wazeroMemory is playground.Memory over a raw wazero instance: the same
// engine the server uses, driven by the playground's Guest (as the
// browser's engine is in guest_js.go).
type wazeroMemory struct {
	ctx context.Context
	mod api.Module
}

func (m wazeroMemory) Has(export string) bool { return m.mod.ExportedFunction(export) != nil }

func (m wazeroMemory) Call(export string, args ...uint32) (int32, error) {
	p := make([]uint64, len(args))
	for i, a := range args {
		p[i] = uint64(a)
	}
	res, err := m.mod.ExportedFunction(export).Call(m.ctx, p...)
	if err != nil {
		return 0, err
	}
	return int32(uint32(res[0])), nil
}

func (m wazeroMemory) Read(off uint32, dst []byte) error {
	b, ok := m.mod.Memory().Read(off, uint32(len(dst)))
	if !ok {
		return errors.New("out of range")
	}
	copy(dst, b)
	return nil
}

func (m wazeroMemory) Write(off uint32, src []byte) error {
	if !m.mod.Memory().Write(off, src) {
		return errors.New("out of range")
	}
	return nil
}

func instantiate(t *testing.T, wasm []byte) wazeroMemory {
	t.Helper()
	ctx := t.Context()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(context.Background()) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	return wazeroMemory{ctx: ctx, mod: mod}
}

func mostAllocated(t *testing.T) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	w := filepath.Join("..", "..", "wasm")
	b, err := build.Cached(ctx, filepath.Join(w, "examples", "mostallocated", "module"), filepath.Join(w, "examples", "mostallocated"),
		filepath.Join(w, "policies", "scheduler"), filepath.Join(w, "sdk"), filepath.Join(w, "abi"))
	if err != nil {
		t.Fatalf("build mostallocated: %v", err)
	}
	return b
}

// TestGuestReplayMatchesServer runs modules through the playground's Guest
// and Replay and through wasm/runtime with wasm/snapshot.Replay (what the
// decide endpoint runs) and wants the same matrix for every pod.
func TestGuestReplayMatchesServer(t *testing.T) {
	s := scenario()
	var buf bytes.Buffer
	if err := (&snapshot.Snapshot{Version: s.Version, Source: s.Source, Nodes: s.Nodes, Bound: s.Bound, Pending: s.Pending}).Encode(&buf); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := playground.DecodeScenario(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	modules := map[string][]byte{"builtin": builtintest.Scheduler(t)}
	if !testing.Short() {
		modules["mostallocated"] = mostAllocated(t)
	}
	host, err := runtime.New(t.Context(), runtime.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close(context.Background()) })
	for name, wasm := range modules {
		t.Run(name, func(t *testing.T) {
			g, err := playground.NewGuest(instantiate(t, wasm))
			if err != nil {
				t.Fatal(err)
			}
			got, err := playground.Replay(t.Context(), sc, g)
			if err != nil {
				t.Fatal(err)
			}
			m, err := host.Load(t.Context(), name, wasm, runtime.ModuleOptions{CallTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close(context.Background()) })
			if h := g.Hooks(); h.Filter != m.Hooks().Filter || h.Score != m.Hooks().Score {
				t.Errorf("hooks %+v, runtime %+v", h, m.Hooks())
			}
			want, err := snapshot.Replay(t.Context(), snap, m, m, snapshot.Options{Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Decisions) != len(want) {
				t.Fatalf("%d decisions, server %d", len(got.Decisions), len(want))
			}
			placed := 0
			for i, d := range got.Decisions {
				w := want[i].Module
				if d.Error != "" || w.Err != "" {
					t.Errorf("pod %s: error %q, server %q", d.Pod, d.Error, w.Err)
					continue
				}
				if d.Pod != want[i].Pod || d.Node != w.Node || !reflect.DeepEqual(d.Best, w.Best) || d.Score != w.Score || d.Feasible != w.Feasible {
					t.Errorf("pod %s: %s %v %d %d, server %s: %s %v %d %d", d.Pod, d.Node, d.Best, d.Score, d.Feasible, want[i].Pod, w.Node, w.Best, w.Score, w.Feasible)
				}
				for j := range d.Verdicts {
					if abi.NodeVerdict(d.Verdicts[j]) != w.Verdicts[j] || d.Scores[j] != w.Scores[j] {
						t.Errorf("pod %s node %s: %+v score %d, server %+v score %d", d.Pod, got.Nodes[j], d.Verdicts[j], d.Scores[j], w.Verdicts[j], w.Scores[j])
					}
				}
				if d.Node != "" {
					placed++
				}
			}
			// The scenario must exercise both outcomes, or the comparison says little.
			if placed == 0 || placed == len(got.Decisions) {
				t.Errorf("%d of %d pods placed: the scenario should place some and not others", placed, len(got.Decisions))
			}
			t.Logf("%s: %s", name, summary(got))
		})
	}
}

func summary(r *playground.Result) string {
	var b strings.Builder
	for _, d := range r.Decisions {
		fmt.Fprintf(&b, "%s→%q ", d.Pod, d.Node)
	}
	return b.String()
}

// hostile is a module that traps in its filter after passing the checks.
func TestGuestRefusesBadModules(t *testing.T) {
	tests := []struct {
		name string
		mem  fakeMemory
		want string
	}{
		{"no arena export", fakeMemory{exports: map[string]bool{abi.ExportVersion: true}}, "skiff_arena"},
		{"wrong version", fakeMemory{exports: map[string]bool{abi.ExportVersion: true, abi.ExportArena: true, abi.ExportFilter: true}, version: 2}, "version 2"},
		{"no hooks", fakeMemory{exports: map[string]bool{abi.ExportVersion: true, abi.ExportArena: true}, version: 1}, "no scheduler hooks"},
		{"arena fails", fakeMemory{exports: map[string]bool{abi.ExportVersion: true, abi.ExportArena: true, abi.ExportFilter: true}, version: 1, arena: 0}, "returned 0"},
		{"filter not implemented, score absent", fakeMemory{exports: map[string]bool{abi.ExportVersion: true, abi.ExportArena: true, abi.ExportFilter: true}, version: 1, arena: 64, status: int32(abi.StatusNotImplemented)}, "neither filter nor score"},
		{"filter traps", fakeMemory{exports: map[string]bool{abi.ExportVersion: true, abi.ExportArena: true, abi.ExportFilter: true}, version: 1, arena: 64, trap: true}, "trapped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := playground.NewGuest(&tc.mem)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewGuest: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// fakeMemory is a guest that answers fixed values.
type fakeMemory struct {
	exports map[string]bool
	version int32
	arena   int32
	status  int32
	trap    bool
	mem     [4 << 20]byte
}

func (f *fakeMemory) Has(e string) bool { return f.exports[e] }
func (f *fakeMemory) Call(e string, _ ...uint32) (int32, error) {
	switch e {
	case abi.ExportVersion:
		return f.version, nil
	case abi.ExportArena:
		return f.arena, nil
	}
	if f.trap {
		return 0, errors.New("unreachable")
	}
	return f.status, nil
}
func (f *fakeMemory) Read(off uint32, dst []byte) error  { copy(dst, f.mem[off:]); return nil }
func (f *fakeMemory) Write(off uint32, src []byte) error { copy(f.mem[off:], src); return nil }

func TestDecodeScenario(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"ok", `{"version":1,"nodes":[{"metadata":{"name":"a"}}]}`, ""},
		{"version", `{"version":2,"nodes":[{"metadata":{"name":"a"}}]}`, "version 2"},
		{"no nodes", `{"version":1,"nodes":[]}`, "no nodes"},
		{"duplicate", `{"version":1,"nodes":[{"metadata":{"name":"a"}},{"metadata":{"name":"a"}}]}`, "twice"},
		{"unnamed", `{"version":1,"nodes":[{"metadata":{}}]}`, "no name"},
		{"pending with node", `{"version":1,"nodes":[{"metadata":{"name":"a"}}],"pending":[{"metadata":{"name":"p"},"spec":{"nodeName":"a","containers":[]}}]}`, "already has"},
		{"garbage", `{`, "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := playground.DecodeScenario(strings.NewReader(tc.doc))
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("DecodeScenario: %v, want %q", err, tc.want)
			}
		})
	}
}
