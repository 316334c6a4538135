package resources_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/storetest"
	"github.com/skiff-sh/skiff/wasm/build"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
)

// guest builds a test module from testdata (cached by source hash).
func guest(t *testing.T, name string) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	wasm := filepath.Join(dir, "..", "..", "wasm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := build.Cached(ctx, filepath.Join(dir, "testdata", name), filepath.Join(wasm, "sdk"), filepath.Join(wasm, "abi"))
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return b
}

type skiffEnv struct {
	kv       *raftstore.Store
	modules  *registry.Store
	policies *registry.Store
}

func newSkiffEnv(t *testing.T) *skiffEnv {
	t.Helper()
	kv := storetest.New(t, 1, nil).Nodes[0].Store()
	reg := registry.NewRegistry(kv, resources.Default(kv))
	e := &skiffEnv{kv: kv,
		modules:  reg.StoreFor(v1.SchemeGroupVersion.WithKind("PolicyModule")),
		policies: reg.StoreFor(v1.SchemeGroupVersion.WithKind("SchedulingPolicy"))}
	if e.modules == nil || e.policies == nil {
		t.Fatal("the registry does not serve skiff.dev/v1alpha1")
	}
	return e
}

func (e *skiffEnv) upload(t *testing.T, wasm []byte, hooks ...string) (*v1.PolicyModule, error) {
	t.Helper()
	obj, err := e.modules.Create(t.Context(), "", &v1.PolicyModule{ObjectMeta: metav1.ObjectMeta{Name: v1.ObjectName(v1.Digest(wasm))},
		Spec: v1.PolicyModuleSpec{Wasm: wasm, Hooks: hooks}}, registry.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*v1.PolicyModule), nil
}

// wantInvalid checks that err is a 422 with a cause on field whose message
// contains want.
func wantInvalid(t *testing.T, err error, field, want string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("err = %v, want 422 Invalid", err)
	}
	st := err.(apierrors.APIStatus).Status()
	if st.Code != 422 || st.Details == nil {
		t.Fatalf("status = %+v", st)
	}
	for _, c := range st.Details.Causes {
		if c.Field == field && strings.Contains(c.Message, want) {
			return
		}
	}
	t.Errorf("no cause on %s containing %q in %+v", field, want, st.Details.Causes)
}

func TestPolicyModuleUpload(t *testing.T) {
	good := builtintest.Scheduler(t)
	var guests sync.Map
	var wg sync.WaitGroup
	for _, name := range []string{"badabi", "loop", "nohooks"} {
		wg.Go(func() { guests.Store(name, guest(t, name)) })
	}
	wg.Wait()
	g := func(name string) []byte { b, _ := guests.Load(name); return b.([]byte) }
	e := newSkiffEnv(t)

	m, err := e.upload(t, good)
	if err != nil {
		t.Fatalf("upload the default scheduler: %v", err)
	}
	if m.Spec.Size != int64(len(good)) || strings.Join(m.Spec.Hooks, ",") != "filter,score" || len(m.Spec.Wasm) != 0 {
		t.Errorf("created module: size %d hooks %v wasm %d bytes; want %d, [filter score], none", m.Spec.Size, m.Spec.Hooks, len(m.Spec.Wasm), len(good))
	}
	got, err := resources.ReadModule(t.Context(), e.kv, v1.Digest(good))
	if err != nil || !bytes.Equal(got, good) {
		t.Fatalf("ReadModule = %d bytes, %v; want the %d uploaded", len(got), err, len(good))
	}
	if _, err := e.upload(t, good); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second upload = %v, want AlreadyExists", err)
	}

	tests := []struct {
		name        string
		wasm        []byte
		hooks       []string
		objName     string
		field, want string
	}{
		{name: "garbage", wasm: []byte("this is not wasm"), field: "spec.wasm", want: "does not compile"},
		{name: "wrong ABI", wasm: g("badabi"), field: "spec.wasm", want: "unsupported ABI version"},
		{name: "no hooks", wasm: g("nohooks"), field: "spec.wasm", want: "every exported hook answered not-implemented"},
		{name: "claims a hook it lacks", wasm: good, hooks: []string{"reconcile"}, objName: "", field: "spec.wasm", want: "does not implement the reconcile hook"},
		{name: "dry run loops", wasm: g("loop"), field: "spec.wasm", want: "deadline exceeded"},
		{name: "name is not the digest", wasm: good, objName: "sha256-" + strings.Repeat("0", 64), field: "metadata.name", want: "content address"},
		{name: "empty", wasm: nil, objName: "x", field: "spec.wasm", want: "Required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.objName
			if name == "" {
				name = v1.ObjectName(v1.Digest(tc.wasm))
			}
			if tc.name == "claims a hook it lacks" {
				// A new object name for the same bytes is impossible; delete the good one first.
				if _, _, err := e.modules.Delete(t.Context(), "", name, nil); err != nil {
					t.Fatal(err)
				}
			}
			_, err := e.modules.Create(t.Context(), "", &v1.PolicyModule{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: v1.PolicyModuleSpec{Wasm: tc.wasm, Hooks: tc.hooks}}, registry.CreateOptions{})
			wantInvalid(t, err, tc.field, tc.want)
		})
	}
	// The deleted module's bytes are gone too.
	if _, err := resources.ReadModule(t.Context(), e.kv, v1.Digest(good)); err == nil {
		t.Error("ReadModule after delete succeeded")
	}
}

func TestPolicyModuleIsImmutable(t *testing.T) {
	good := builtintest.Scheduler(t)
	e := newSkiffEnv(t)
	m, err := e.upload(t, good)
	if err != nil {
		t.Fatal(err)
	}
	// Labels may change, and the bytes may be left out of an update.
	_, _, err = e.modules.Update(t.Context(), "", m.Name, func(cur k8sruntime.Object) (k8sruntime.Object, error) {
		c := cur.(*v1.PolicyModule)
		c.Labels = map[string]string{"team": "a"}
		return c, nil
	}, registry.UpdateOptions{})
	if err != nil {
		t.Fatalf("label update: %v", err)
	}
	_, _, err = e.modules.Update(t.Context(), "", m.Name, func(cur k8sruntime.Object) (k8sruntime.Object, error) {
		c := cur.(*v1.PolicyModule)
		c.Spec.Wasm = []byte("other bytes")
		return c, nil
	}, registry.UpdateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("changing the bytes = %v, want 422", err)
	}
}

func TestSchedulingPolicy(t *testing.T) {
	good := builtintest.Scheduler(t)
	e := newSkiffEnv(t)
	create := func(name, module string) (*v1.SchedulingPolicy, error) {
		obj, err := e.policies.Create(t.Context(), "", &v1.SchedulingPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1.SchedulingPolicySpec{Module: module}}, registry.CreateOptions{})
		if err != nil {
			return nil, err
		}
		return obj.(*v1.SchedulingPolicy), nil
	}
	_, err := create("binpack", v1.Digest(good))
	wantInvalid(t, err, "spec.module", "Not found")
	_, err = create("binpack", "latest")
	wantInvalid(t, err, "spec.module", "content address")
	if _, err := e.upload(t, good); err != nil {
		t.Fatal(err)
	}
	_, err = create("default-scheduler", v1.Digest(good))
	wantInvalid(t, err, "metadata.name", "built-in")
	p, err := create("binpack", v1.Digest(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Status.History) != 1 || p.Status.History[0].Module != v1.Digest(good) {
		t.Errorf("history = %+v, want the module", p.Status.History)
	}
	if len(p.Status.Conditions) != 1 || p.Status.Conditions[0].Type != v1.ConditionAccepted || p.Status.Conditions[0].Status != metav1.ConditionTrue {
		t.Errorf("conditions = %+v, want Accepted=True", p.Status.Conditions)
	}
	// Pointing at a missing module is refused; each change of module is a
	// revision, at most MaxHistory kept.
	_, _, err = e.policies.Update(t.Context(), "", "binpack", func(cur k8sruntime.Object) (k8sruntime.Object, error) {
		c := cur.(*v1.SchedulingPolicy)
		c.Spec.Module = v1.Digest([]byte("missing"))
		return c, nil
	}, registry.UpdateOptions{})
	wantInvalid(t, err, "spec.module", "Not found")
	// A second module, written straight into the store (only its object is
	// read when a policy points at it).
	other := v1.Digest([]byte("x"))
	raw, _ := json.Marshal(&v1.PolicyModule{TypeMeta: metav1.TypeMeta{APIVersion: "skiff.dev/v1alpha1", Kind: "PolicyModule"},
		ObjectMeta: metav1.ObjectMeta{Name: v1.ObjectName(other)}, Spec: v1.PolicyModuleSpec{Size: 1, Hooks: []string{"score"}}})
	if _, err := e.kv.Txn(t.Context(), &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
		RequestPut: &pb.PutRequest{Key: []byte("/registry/policymodules/" + v1.ObjectName(other)), Value: raw}}}}}); err != nil {
		t.Fatal(err)
	}
	setModule := func(module string, config string) {
		t.Helper()
		_, _, err := e.policies.Update(t.Context(), "", "binpack", func(cur k8sruntime.Object) (k8sruntime.Object, error) {
			c := cur.(*v1.SchedulingPolicy)
			c.Spec.Module = module
			if config != "" {
				c.Spec.Configuration = &k8sruntime.RawExtension{Raw: []byte(config)}
			}
			return c, nil
		}, registry.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	setModule(v1.Digest(good), `{"weight":1}`) // configuration only: no revision
	for i := range 12 {
		setModule([]string{other, v1.Digest(good)}[i%2], "")
	}
	obj, err := e.policies.Get(t.Context(), "", "binpack")
	if err != nil {
		t.Fatal(err)
	}
	p = obj.(*v1.SchedulingPolicy)
	if n := len(p.Status.History); n != v1.MaxHistory || p.Status.History[n-1].Module != v1.Digest(good) || p.Status.History[n-2].Module != other {
		t.Errorf("history after 13 revisions = %+v, want the last %d, the current module last", p.Status.History, v1.MaxHistory)
	}
	if p.Generation < 2 {
		t.Errorf("generation = %d after spec changes", p.Generation)
	}
}

func TestShadowPolicy(t *testing.T) {
	good := builtintest.Scheduler(t)
	e := newSkiffEnv(t)
	if _, err := e.upload(t, good); err != nil {
		t.Fatal(err)
	}
	create := func(name string, spec v1.SchedulingPolicySpec) (*v1.SchedulingPolicy, error) {
		spec.Module = v1.Digest(good)
		obj, err := e.policies.Create(t.Context(), "", &v1.SchedulingPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, registry.CreateOptions{})
		if err != nil {
			return nil, err
		}
		return obj.(*v1.SchedulingPolicy), nil
	}
	tests := []struct {
		name        string
		spec        v1.SchedulingPolicySpec
		field, want string
	}{
		{"shadow of itself", v1.SchedulingPolicySpec{Shadow: true, ShadowOf: "candidate"}, "spec.shadowOf", "must not name the policy itself"},
		{"shadowOf without shadow", v1.SchedulingPolicySpec{ShadowOf: "default-scheduler"}, "spec.shadowOf", "only a shadow policy"},
		{"shadowOf not a name", v1.SchedulingPolicySpec{Shadow: true, ShadowOf: "Not_A_Name"}, "spec.shadowOf", "RFC 1123"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := create("candidate", tc.spec)
			wantInvalid(t, err, tc.field, tc.want)
		})
	}

	// shadowOf defaults to the default scheduler.
	p, err := create("candidate", v1.SchedulingPolicySpec{Shadow: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.ShadowOf != v1.DefaultShadowOf {
		t.Errorf("shadowOf = %q, want %q", p.Spec.ShadowOf, v1.DefaultShadowOf)
	}
	// An update that makes it shadow itself is refused too.
	_, _, err = e.policies.Update(t.Context(), "", "candidate", func(cur k8sruntime.Object) (k8sruntime.Object, error) {
		c := cur.(*v1.SchedulingPolicy)
		c.Spec.ShadowOf = "candidate"
		return c, nil
	}, registry.UpdateOptions{})
	wantInvalid(t, err, "spec.shadowOf", "must not name the policy itself")

	// The scheduler's counters: written through status, negative refused,
	// kept across a label change, reset when the candidate changes.
	setStatus := func(sh *v1.ShadowStatus) error {
		_, _, err := e.policies.Update(t.Context(), "", "candidate", func(cur k8sruntime.Object) (k8sruntime.Object, error) {
			c := cur.(*v1.SchedulingPolicy)
			c.Status.Shadow = sh
			return c, nil
		}, registry.UpdateOptions{Subresource: "status"})
		return err
	}
	wantInvalid(t, setStatus(&v1.ShadowStatus{Decisions: -1}), "status.shadow.decisions", "negative")
	if err := setStatus(&v1.ShadowStatus{Decisions: 3, Agreements: 2, Disagreements: 1}); err != nil {
		t.Fatal(err)
	}
	update := func(f func(*v1.SchedulingPolicy)) *v1.SchedulingPolicy {
		t.Helper()
		obj, _, err := e.policies.Update(t.Context(), "", "candidate", func(cur k8sruntime.Object) (k8sruntime.Object, error) {
			c := cur.(*v1.SchedulingPolicy)
			f(c)
			return c, nil
		}, registry.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*v1.SchedulingPolicy)
	}
	if p := update(func(c *v1.SchedulingPolicy) { c.Labels = map[string]string{"a": "b"} }); p.Status.Shadow == nil || p.Status.Shadow.Decisions != 3 {
		t.Errorf("after a label change shadow status = %+v, want kept", p.Status.Shadow)
	}
	if p := update(func(c *v1.SchedulingPolicy) { c.Spec.Configuration = &k8sruntime.RawExtension{Raw: []byte(`{"w":1}`)} }); p.Status.Shadow != nil {
		t.Errorf("after a configuration change shadow status = %+v, want reset", p.Status.Shadow)
	}
}
