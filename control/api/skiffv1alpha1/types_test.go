package skiffv1alpha1_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
)

func TestJSONRoundTrip(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	tests := []struct {
		name string
		obj  runtime.Object
		into runtime.Object
		want []string // substrings of the JSON
	}{
		{"module", &v1.PolicyModule{
			TypeMeta:   metav1.TypeMeta{APIVersion: "skiff.dev/v1alpha1", Kind: "PolicyModule"},
			ObjectMeta: metav1.ObjectMeta{Name: v1.ObjectName(v1.Digest(wasm))},
			Spec:       v1.PolicyModuleSpec{Wasm: wasm, Size: int64(len(wasm)), Hooks: []string{v1.HookFilter, v1.HookScore}},
		}, &v1.PolicyModule{}, []string{`"wasm":"AGFzbQEAAAA="`, `"hooks":["filter","score"]`, `"name":"sha256-`}},
		{"policy", &v1.SchedulingPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "skiff.dev/v1alpha1", Kind: "SchedulingPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: "binpack", Generation: 2},
			Spec: v1.SchedulingPolicySpec{Module: v1.Digest(wasm),
				Configuration: &runtime.RawExtension{Raw: []byte(`{"weight":3}`)}},
			Status: v1.SchedulingPolicyStatus{ObservedGeneration: 2,
				History:    []v1.ModuleRevision{{Module: v1.Digest(nil), Time: now}, {Module: v1.Digest(wasm), Time: now}},
				Conditions: []metav1.Condition{{Type: v1.ConditionLoaded, Status: metav1.ConditionTrue, Reason: "Loaded", LastTransitionTime: now}}},
		}, &v1.SchedulingPolicy{}, []string{`"configuration":{"weight":3}`, `"module":"sha256:`, `"observedGeneration":2`}},
		{"shadow policy", &v1.SchedulingPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "skiff.dev/v1alpha1", Kind: "SchedulingPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: "candidate"},
			Spec:       v1.SchedulingPolicySpec{Module: v1.Digest(wasm), Shadow: true, ShadowOf: "default-scheduler"},
			Status: v1.SchedulingPolicyStatus{Shadow: &v1.ShadowStatus{Decisions: 5, Agreements: 3, Disagreements: 1, Failures: 1,
				LastDisagreement: &v1.ShadowDisagreement{Pod: "default/p", ActiveNode: "node-a", ShadowNode: "node-b", Time: now}}},
		}, &v1.SchedulingPolicy{}, []string{`"shadow":true`, `"shadowOf":"default-scheduler"`, `"decisions":5`, `"disagreements":1`,
			`"lastDisagreement":{"pod":"default/p","activeNode":"node-a","shadowNode":"node-b"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("JSON %s lacks %s", b, w)
				}
			}
			if err := json.Unmarshal(b, tc.into); err != nil {
				t.Fatal(err)
			}
			if !apiequality.Semantic.DeepEqual(tc.obj, tc.into) {
				t.Errorf("round trip:\n got %#v\nwant %#v", tc.into, tc.obj)
			}
			cp := tc.obj.DeepCopyObject()
			if !apiequality.Semantic.DeepEqual(tc.obj, cp) {
				t.Errorf("DeepCopy differs: %#v", cp)
			}
		})
	}
}

func TestDeepCopyIsDeep(t *testing.T) {
	p := &v1.SchedulingPolicy{Spec: v1.SchedulingPolicySpec{Configuration: &runtime.RawExtension{Raw: []byte(`{}`)}},
		Status: v1.SchedulingPolicyStatus{History: []v1.ModuleRevision{{Module: "a"}}, Conditions: []metav1.Condition{{Type: "X"}},
			Shadow: &v1.ShadowStatus{Decisions: 1, LastDisagreement: &v1.ShadowDisagreement{Pod: "p"}}}}
	c := p.DeepCopy()
	c.Spec.Configuration.Raw[0] = 'x'
	c.Status.History[0].Module = "b"
	c.Status.Conditions[0].Type = "Y"
	c.Status.Shadow.Decisions = 2
	c.Status.Shadow.LastDisagreement.Pod = "q"
	if string(p.Spec.Configuration.Raw) != `{}` || p.Status.History[0].Module != "a" || p.Status.Conditions[0].Type != "X" ||
		p.Status.Shadow.Decisions != 1 || p.Status.Shadow.LastDisagreement.Pod != "p" {
		t.Errorf("copy shares memory with the original: %#v", p)
	}
	m := &v1.PolicyModule{Spec: v1.PolicyModuleSpec{Wasm: []byte{1}, Hooks: []string{"filter"}}}
	mc := m.DeepCopy()
	mc.Spec.Wasm[0], mc.Spec.Hooks[0] = 2, "score"
	if m.Spec.Wasm[0] != 1 || m.Spec.Hooks[0] != "filter" {
		t.Errorf("module copy shares memory: %#v", m)
	}
}

func TestDigest(t *testing.T) {
	d := v1.Digest([]byte("abc"))
	if d != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Digest = %s", d)
	}
	if n := v1.ObjectName(d); n != "sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" || v1.DigestOf(n) != d {
		t.Errorf("ObjectName = %s, DigestOf = %s", n, v1.DigestOf(n))
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{{d, true}, {"sha256:abc", false}, {"md5:" + d[7:], false}, {"sha256:" + strings.ToUpper(d[7:]), false}, {"sha256:" + strings.Repeat("g", 64), false}} {
		if err := v1.ParseDigest(tc.in); (err == nil) != tc.ok {
			t.Errorf("ParseDigest(%q) = %v, want ok %v", tc.in, err, tc.ok)
		}
	}
	if s := v1.Short(d); s != "ba7816bf8f01" {
		t.Errorf("Short = %s", s)
	}
}
