package nscontroller_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/control/gc"
	"github.com/skiff-sh/skiff/control/nscontroller"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

func newRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	c := storetest.New(t, 1, nil)
	opts := resources.DefaultOptions(c.Nodes[0].Store())
	opts.Logger = slog.New(slog.DiscardHandler)
	res, err := resources.All(opts)
	if err != nil {
		t.Fatal(err)
	}
	return registry.NewRegistry(c.Nodes[0].Store(), res)
}

// start runs a controller until the test ends, on a clock the test can
// move forward, and checks that it stops.
func start(t *testing.T, reg *registry.Registry) (advance func(time.Duration)) {
	t.Helper()
	var offset atomic.Int64
	ctl := nscontroller.New(reg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctl.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after the context ended", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after the context ended")
		}
	})
	return func(d time.Duration) { offset.Add(int64(d)) }
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fill creates objects of several kinds in namespace ns: a config map, a
// secret, a service, a deployment, a replica set, a pod no node runs and a
// pod bound to a node.
func fill(t *testing.T, reg *registry.Registry, ns string) {
	t.Helper()
	core, apps := corev1.SchemeGroupVersion, appsv1.SchemeGroupVersion
	for _, o := range []struct {
		gvk schema.GroupVersionKind
		obj runtime.Object
	}{
		{core.WithKind("ConfigMap"), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}},
		{core.WithKind("Secret"), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "secret"}}},
		{core.WithKind("Service"), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc"}, Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		}}},
		{apps.WithKind("Deployment"), validDeployment("deploy")},
		{apps.WithKind("ReplicaSet"), validReplicaSet("rs", nil)},
		{core.WithKind("Pod"), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending"}, Spec: validDeployment("x").Spec.Template.Spec}},
		{core.WithKind("Pod"), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Spec: boundPodSpec("n1")}},
	} {
		s := reg.StoreFor(o.gvk)
		if s == nil {
			t.Fatalf("no store for %v", o.gvk)
		}
		if _, err := s.Create(context.Background(), ns, o.obj, registry.CreateOptions{}); err != nil {
			t.Fatalf("create %v in %s: %v", o.gvk, ns, err)
		}
	}
}

// contentOf counts the objects of every namespaced resource in ns.
func contentOf(t *testing.T, reg *registry.Registry, ns string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, s := range reg.Stores() {
		if !s.Resource().Namespaced {
			continue
		}
		list, err := s.List(context.Background(), ns, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := meta.LenList(list); n > 0 {
			out[s.Resource().Plural] += n
		}
	}
	return out
}

func namespace(t *testing.T, reg *registry.Registry, name string) *corev1.Namespace {
	t.Helper()
	obj, err := reg.Namespaces().Get(context.Background(), "", name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.Namespace)
}

func condition(ns *corev1.Namespace, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range ns.Status.Conditions {
		if ns.Status.Conditions[i].Type == t {
			return &ns.Status.Conditions[i]
		}
	}
	return nil
}

func TestNamespaceDeletion(t *testing.T) {
	reg := newRegistry(t)
	advance := start(t, reg)
	for _, name := range []string{"doomed", "kept"} {
		if _, err := reg.Namespaces().Create(context.Background(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, registry.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		fill(t, reg, name)
	}
	cms := reg.StoreFor(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	held := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}}
	if _, err := cms.Create(context.Background(), "doomed", held, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kept := contentOf(t, reg, "kept")

	if _, _, err := reg.Namespaces().Delete(context.Background(), "", "doomed", nil); err != nil {
		t.Fatal(err)
	}
	// Everything goes but the config map its finalizer holds and the pod
	// whose node never confirms (its grace period has not passed yet).
	const wantRemaining = "Some resources are remaining: configmaps. has 1 resource instances, pods. has 1 resource instances"
	eventually(t, "the doomed namespace to report what remains", func() bool {
		ns := namespace(t, reg, "doomed")
		c := condition(ns, corev1.NamespaceContentRemaining)
		return c != nil && c.Message == wantRemaining
	})
	ns := namespace(t, reg, "doomed")
	if ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase = %s, want Terminating", ns.Status.Phase)
	}
	for typ, want := range map[corev1.NamespaceConditionType]string{
		corev1.NamespaceFinalizersRemaining:      "True SomeFinalizerRemain Some finalizers are remaining: example.com/hold in 1 resource instances",
		corev1.NamespaceDeletionContentFailure:   "False ContentDeleted All content successfully deleted, may be waiting on finalization",
		corev1.NamespaceDeletionDiscoveryFailure: "False ResourcesDiscovered All resources successfully discovered",
	} {
		c := condition(ns, typ)
		if c == nil || string(c.Status)+" "+c.Reason+" "+c.Message != want {
			t.Errorf("condition %s = %+v, want %s", typ, c, want)
		}
	}
	left := contentOf(t, reg, "doomed")
	if len(left) != 2 || left["configmaps"] != 1 || left["pods"] != 1 {
		t.Fatalf("content left = %v, want the held config map and the bound pod", left)
	}
	pod, err := reg.StoreFor(corev1.SchemeGroupVersion.WithKind("Pod")).Get(context.Background(), "doomed", "bound")
	if err != nil || pod.(*corev1.Pod).DeletionTimestamp == nil {
		t.Fatalf("bound pod = %v (%v), want it deleting gracefully", pod, err)
	}

	// The grace period passes with no node to confirm, and the finalizer
	// is released: the namespace empties and goes.
	advance(time.Hour)
	_, _, err = cms.Update(context.Background(), "doomed", "held", func(cur runtime.Object) (runtime.Object, error) {
		cm := cur.(*corev1.ConfigMap)
		cm.Finalizers, cm.ResourceVersion = nil, ""
		return cm, nil
	}, registry.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the doomed namespace to go", func() bool { return namespace(t, reg, "doomed") == nil })
	if left := contentOf(t, reg, "doomed"); len(left) != 0 {
		t.Errorf("content left after the namespace went: %v", left)
	}
	if ns := namespace(t, reg, "kept"); ns == nil || ns.DeletionTimestamp != nil {
		t.Errorf("other namespace = %v, want it untouched", ns)
	}
	if got := contentOf(t, reg, "kept"); !equalCounts(got, kept) || len(got) < 6 {
		t.Errorf("other namespace's content = %v, want %v", got, kept)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestNamespaceDeletedBeforeStart(t *testing.T) {
	reg := newRegistry(t)
	if _, err := reg.Namespaces().Create(context.Background(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "old"}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fill(t, reg, "old")
	if _, _, err := reg.Namespaces().Delete(context.Background(), "", "old", nil); err != nil {
		t.Fatal(err)
	}
	advance := start(t, reg)
	advance(time.Hour) // the bound pod's grace period is long over
	eventually(t, "the namespace deleted before the controller started to go", func() bool { return namespace(t, reg, "old") == nil })
	if left := contentOf(t, reg, "old"); len(left) != 0 {
		t.Errorf("content left: %v", left)
	}
}

func TestRunWithoutNamespacesFails(t *testing.T) {
	reg := registry.NewRegistry(nil, nil)
	if err := nscontroller.New(reg, nil).Run(t.Context()); err == nil {
		t.Error("Run with no namespaces resource = nil, want an error")
	}
}

// A deployment deleted in the foreground stays until the garbage collector
// has removed its dependents: the namespace waits for it, then goes.
func TestNamespaceWaitsForGarbageCollector(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	if _, err := reg.Namespaces().Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deploys := reg.StoreFor(appsv1.SchemeGroupVersion.WithKind("Deployment"))
	rss := reg.StoreFor(appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
	d, err := deploys.Create(ctx, "app", validDeployment("d"), registry.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dm := d.(metav1.Object)
	rs := validReplicaSet("rs", []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "Deployment", Name: "d", UID: dm.GetUID(), BlockOwnerDeletion: new(true),
	}})
	if _, err := rss.Create(ctx, "app", rs, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, err := deploys.Delete(ctx, "app", "d", &metav1.DeleteOptions{PropagationPolicy: new(metav1.DeletePropagationForeground)})
	if err != nil || len(out.(metav1.Object).GetFinalizers()) != 1 {
		t.Fatalf("foreground delete: %v %v", out, err)
	}
	if _, _, err := reg.Namespaces().Delete(ctx, "", "app", nil); err != nil {
		t.Fatal(err)
	}

	start(t, reg)
	gcCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gc.New(reg, nil).Run(gcCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	eventually(t, "the namespace to go", func() bool { return namespace(t, reg, "app") == nil })
	if left := contentOf(t, reg, "app"); len(left) != 0 {
		t.Errorf("content left: %v", left)
	}
}

// validDeployment is a deployment that passes validation.
func validDeployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27"}}},
			},
		},
	}
}

// validReplicaSet is a replica set that passes validation.
func validReplicaSet(name string, owners []metav1.OwnerReference) *appsv1.ReplicaSet {
	d := validDeployment(name)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners},
		Spec:       appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template},
	}
}

func boundPodSpec(node string) corev1.PodSpec {
	spec := validDeployment("x").Spec.Template.Spec
	spec.NodeName = node
	return spec
}
