package policycli

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
)

func TestParsePush(t *testing.T) {
	tests := []struct {
		args    []string
		want    pushArgs
		wantErr string
	}{
		{[]string{"p", "f.wasm"}, pushArgs{name: "p", file: "f.wasm"}, ""},
		{[]string{"p", "f.wasm", "--shadow"}, pushArgs{name: "p", file: "f.wasm", shadow: true}, ""},
		{[]string{"--shadow", "--shadow-of", "binpack", "p", "f.wasm"}, pushArgs{name: "p", file: "f.wasm", shadow: true, shadowOf: "binpack"}, ""},
		{[]string{"p", "f.wasm", "--shadow-of=x"}, pushArgs{}, "--shadow-of needs --shadow"},
		{[]string{"p"}, pushArgs{}, "NAME and FILE"},
		{[]string{"p", "f", "--nope"}, pushArgs{}, "not defined"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parsePush(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parsePush = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestShadowColumns(t *testing.T) {
	shadow := func(st *v1.ShadowStatus) *v1.SchedulingPolicy {
		return &v1.SchedulingPolicy{Spec: v1.SchedulingPolicySpec{Shadow: true, ShadowOf: "binpack"}, Status: v1.SchedulingPolicyStatus{Shadow: st}}
	}
	tests := []struct {
		name           string
		p              *v1.SchedulingPolicy
		shadow, agrees string
	}{
		{"scheduler", &v1.SchedulingPolicy{}, "-", "-"},
		{"no decisions yet", shadow(nil), "binpack", "-"},
		{"counts", shadow(&v1.ShadowStatus{Decisions: 4, Agreements: 3, Disagreements: 1}), "binpack", "75% (3/4)"},
		{"failures", shadow(&v1.ShadowStatus{Decisions: 5, Agreements: 1, Disagreements: 2, Failures: 2}), "binpack", "33% (1/3), 2 failed"},
		{"only failures", shadow(&v1.ShadowStatus{Decisions: 2, Failures: 2}), "binpack", "-, 2 failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, a := shadowColumns(tc.p)
			if s != tc.shadow || a != tc.agrees {
				t.Errorf("shadowColumns = %q, %q; want %q, %q", s, a, tc.shadow, tc.agrees)
			}
		})
	}
}

// TestPushShadow pushes a policy as a shadow, lists it with its counts, and pushes it again
// without --shadow to make it a scheduler.
func TestPushShadow(t *testing.T) {
	reg, client := apiServer(t)
	file := writeFile(t, "default.wasm", builtintest.Scheduler(t))
	code, out, errOut := run(t, client, "push", "candidate", file, "--shadow")
	if code != 0 || !strings.Contains(out, "schedulingpolicy/candidate created: module sha256:") || !strings.Contains(out, ", shadow of default-scheduler") {
		t.Fatalf("push --shadow = %d\n%s%s", code, out, errOut)
	}
	policies := reg.StoreFor(v1.SchemeGroupVersion.WithKind("SchedulingPolicy"))
	_, _, err := policies.Update(t.Context(), "", "candidate", func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*v1.SchedulingPolicy)
		if !p.Spec.Shadow || p.Spec.ShadowOf != v1.DefaultShadowOf {
			t.Errorf("spec = %+v, want a shadow of %s", p.Spec, v1.DefaultShadowOf)
		}
		p.Status.Shadow = &v1.ShadowStatus{Decisions: 10, Agreements: 9, Disagreements: 1}
		return p, nil
	}, registry.UpdateOptions{Subresource: "status"})
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, client, "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[0], "SHADOW") || !strings.Contains(lines[0], "AGREEMENT") ||
		!strings.Contains(lines[1], "default-scheduler") || !strings.Contains(lines[1], "90% (9/10)") {
		t.Errorf("list = %d:\n%s", code, out)
	}

	// Shadowing itself is refused by the server with the reason.
	code, _, errOut = run(t, client, "push", "candidate", file, "--shadow", "--shadow-of", "candidate")
	if code != 1 || !strings.Contains(errOut, "spec.shadowOf") || !strings.Contains(errOut, "must not name the policy itself") {
		t.Errorf("push shadowing itself = %d, stderr:\n%s", code, errOut)
	}
	if code, _, errOut := run(t, client, "push", "candidate", file, "--shadow-of", "x"); code != 2 || !strings.Contains(errOut, "--shadow-of needs --shadow") {
		t.Errorf("--shadow-of alone = %d, stderr:\n%s", code, errOut)
	}

	// The same module without --shadow: the policy now places pods.
	code, out, errOut = run(t, client, "push", "candidate", file)
	if code != 0 || !strings.Contains(out, "schedulingpolicy/candidate updated") || strings.Contains(out, "shadow of") {
		t.Fatalf("push without --shadow = %d\n%s%s", code, out, errOut)
	}
	obj, err := policies.Get(t.Context(), "", "candidate")
	if err != nil {
		t.Fatal(err)
	}
	if p := obj.(*v1.SchedulingPolicy); p.Spec.Shadow || p.Spec.ShadowOf != "" || p.Generation < 2 {
		t.Errorf("after push without --shadow: spec %+v generation %d", p.Spec, p.Generation)
	}
}
