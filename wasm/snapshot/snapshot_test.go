package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/examples/mostallocated"
	policy "github.com/skiff-sh/skiff/wasm/policies/scheduler"
	"github.com/skiff-sh/skiff/wasm/sdk"
	"github.com/skiff-sh/skiff/wasm/snapshot"
)

func node(name string) corev1.Node {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Capacity: alloc, Allocatable: alloc,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func pod(name, nodeName, cpu, mem string, owner string) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "hello",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}}}
	if owner != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner, UID: types.UID("uid-" + owner), Controller: new(true)}}
	}
	return p
}

func native(s sdk.Scheduler) snapshot.Policy { return sdk.NewNativeScheduler(s) }

// failing is a policy that always fails.
type failing struct{}

func (failing) Schedule(context.Context, *abi.Input, *abi.Result) error { return errors.New("trap") }

// packOrSpread: n1 is half full, n2 and n3 are empty. The default policy spreads (an empty
// node), mostallocated packs (n1).
func packOrSpread() *snapshot.Snapshot {
	return &snapshot.Snapshot{Version: snapshot.Version,
		Nodes:   []corev1.Node{node("n1"), node("n2"), node("n3")},
		Bound:   []corev1.Pod{pod("old", "n1", "2", "4Gi", "")},
		Pending: []corev1.Pod{pod("new-0", "", "500m", "512Mi", "rs"), pod("new-1", "", "500m", "512Mi", "rs")}}
}

func TestReplay(t *testing.T) {
	tests := []struct {
		name              string
		module, reference snapshot.Policy
		exact             bool
		wantAgree         []bool
		wantModule        []string // chosen nodes
		wantReference     []string
	}{
		{name: "same policy, exact", module: native(policy.Policy{}), reference: native(policy.Policy{}), exact: true,
			// new-0 ties on n2 and n3 and goes to n2; new-1 then avoids n2 (same owner, fuller).
			wantAgree: []bool{true, true}, wantModule: []string{"n2", "n3"}, wantReference: []string{"n2", "n3"}},
		{name: "pack vs spread", module: native(mostallocated.Policy{}), reference: native(policy.Policy{}),
			// The module's choice is committed: new-1 sees new-0 on n1.
			wantAgree: []bool{false, false}, wantModule: []string{"n1", "n1"}, wantReference: []string{"n2", "n2"}},
		{name: "module fails", module: failing{}, reference: native(policy.Policy{}),
			wantAgree: []bool{false, false}, wantModule: []string{"", ""}, wantReference: []string{"n2", "n2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := snapshot.Replay(t.Context(), packOrSpread(), tt.module, tt.reference, snapshot.Options{Exact: tt.exact})
			if err != nil {
				t.Fatal(err)
			}
			var agree []bool
			var mod, ref []string
			for _, o := range out {
				agree, mod, ref = append(agree, o.Agree), append(mod, o.Module.Node), append(ref, o.Reference.Node)
			}
			if !slices.Equal(agree, tt.wantAgree) || !slices.Equal(mod, tt.wantModule) || !slices.Equal(ref, tt.wantReference) {
				t.Errorf("agree %v module %v reference %v; want %v %v %v (outcomes %+v)", agree, mod, ref, tt.wantAgree, tt.wantModule, tt.wantReference, out)
			}
			if out[0].Pod != "default/new-0" {
				t.Errorf("first pod %q, want default/new-0", out[0].Pod)
			}
		})
	}
}

// TestReplayExactCatchesScoreDifferences: two policies choosing the same node agree loosely but
// not exactly.
func TestReplayExactCatchesScoreDifferences(t *testing.T) {
	s := &snapshot.Snapshot{Version: snapshot.Version, Nodes: []corev1.Node{node("n1")}, Pending: []corev1.Pod{pod("p", "", "1", "1Gi", "")}}
	for _, exact := range []bool{false, true} {
		out, err := snapshot.Replay(t.Context(), s, native(mostallocated.Policy{}), native(policy.Policy{}), snapshot.Options{Exact: exact})
		if err != nil {
			t.Fatal(err)
		}
		if out[0].Agree == exact || (exact && !strings.Contains(out[0].Why, "score")) {
			t.Errorf("exact=%v: agree %v why %q", exact, out[0].Agree, out[0].Why)
		}
	}
}

// TestReplayNoFeasibleNode: a pod too big for every node is "no node" on both sides, which agrees.
func TestReplayNoFeasibleNode(t *testing.T) {
	s := &snapshot.Snapshot{Version: snapshot.Version, Nodes: []corev1.Node{node("n1")}, Pending: []corev1.Pod{pod("huge", "", "64", "1Gi", "")}}
	out, err := snapshot.Replay(t.Context(), s, native(mostallocated.Policy{}), native(policy.Policy{}), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o := out[0]; !o.Agree || o.Module.Node != "" || o.Module.Verdicts[0].Reasons&abi.ReasonInsufficientCPU == 0 {
		t.Errorf("outcome %+v: want agreement on no node, for cpu", o)
	}
}

func TestFromObjects(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := node("b")
	n.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	n.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"}
	done := pod("done", "b", "1", "1Gi", "")
	done.Status.Phase = corev1.PodSucceeded
	deleting := pod("deleting", "", "1", "1Gi", "")
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	older, newer, urgent := pod("older", "", "1", "1Gi", ""), pod("newer", "", "1", "1Gi", ""), pod("urgent", "", "1", "1Gi", "")
	older.CreationTimestamp = metav1.Time{Time: now.Add(-time.Hour)}
	newer.CreationTimestamp = metav1.Time{Time: now}
	urgent.CreationTimestamp = metav1.Time{Time: now}
	urgent.Spec.Priority = new(int32(1000))
	bound := pod("bound", "b", "1", "1Gi", "")
	bound.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"}

	s := snapshot.FromObjects([]corev1.Node{n, node("a")}, []corev1.Pod{newer, done, bound, deleting, older, urgent}, now, "test")
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range s.Nodes {
		names = append(names, n.Name)
	}
	var pending []string
	for _, p := range s.Pending {
		pending = append(pending, p.Name)
	}
	switch {
	case !slices.Equal(names, []string{"a", "b"}):
		t.Errorf("nodes %v, want sorted a, b", names)
	case !slices.Equal(pending, []string{"urgent", "older", "newer"}):
		t.Errorf("pending %v, want urgent, older, newer", pending)
	case len(s.Bound) != 1 || s.Bound[0].Name != "bound" || s.Bound[0].Status.PodIP != "" || s.Bound[0].Status.Phase != corev1.PodRunning:
		t.Errorf("bound %+v, want only bound, status trimmed to its phase", s.Bound)
	case s.Nodes[1].ManagedFields != nil || len(s.Nodes[1].Annotations) != 1:
		t.Errorf("node b kept managed fields %v or annotations %v", s.Nodes[1].ManagedFields, s.Nodes[1].Annotations)
	case n.ManagedFields == nil:
		t.Error("FromObjects changed its input")
	}

	// Round trip through a file.
	path := filepath.Join(t.TempDir(), "snap.json")
	if err := s.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := snapshot.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Source != "test" || !back.RecordedAt.Equal(now) || len(back.Pending) != 3 || back.Pending[0].Spec.Priority == nil {
		t.Errorf("read back %+v", back)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"not json", `nodes:`, "decode"},
		{"unknown field", `{"version":1,"nodez":[]}`, "unknown field"},
		{"version", `{"version":2,"nodes":[{"metadata":{"name":"a"}}]}`, "version 2"},
		{"no nodes", `{"version":1,"nodes":[]}`, "no nodes"},
		{"duplicate node", `{"version":1,"nodes":[{"metadata":{"name":"a"}},{"metadata":{"name":"a"}}]}`, "twice"},
		{"pending with a node", `{"version":1,"nodes":[{"metadata":{"name":"a"}}],"pending":[{"metadata":{"name":"p"},"spec":{"nodeName":"a","containers":[]}}]}`, "already has"},
		{"bound without a node", `{"version":1,"nodes":[{"metadata":{"name":"a"}}],"bound":[{"metadata":{"name":"p"},"spec":{"containers":[]}}]}`, "no spec.nodeName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := snapshot.Decode(bytes.NewBufferString(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode = %v, want an error with %q", err, tt.want)
			}
		})
	}
}
