package resources_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

// A new pod tolerates the lost-node taints for the configured time, unless
// it already tolerates them itself.
func TestDefaultTolerations(t *testing.T) {
	kv := storetest.New(t, 1, nil).Nodes[0].Store()
	opts := resources.DefaultOptions(kv)
	opts.DefaultTolerationSeconds = 45
	all, err := resources.All(opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.NewRegistry(kv, all)
	if _, err := reg.Store(corev1.SchemeGroupVersion.WithResource("namespaces")).Create(t.Context(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := reg.Store(corev1.SchemeGroupVersion.WithResource("pods"))
	create := func(name string, tols ...corev1.Toleration) *corev1.Pod {
		t.Helper()
		obj, err := pods.Create(t.Context(), "default", &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}, Tolerations: tols},
		}, registry.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*corev1.Pod)
	}
	seconds := func(p *corev1.Pod, key string) (int64, bool) {
		for _, tol := range p.Spec.Tolerations {
			if tol.Key == key && tol.Effect == corev1.TaintEffectNoExecute && tol.Operator == corev1.TolerationOpExists && tol.TolerationSeconds != nil {
				return *tol.TolerationSeconds, true
			}
		}
		return 0, false
	}
	plain := create("plain")
	for _, key := range []string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"} {
		if s, ok := seconds(plain, key); !ok || s != 45 {
			t.Errorf("%s: toleration %v %v, want 45 s in %+v", key, s, ok, plain.Spec.Tolerations)
		}
	}
	own := int64(600)
	mine := create("mine", corev1.Toleration{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &own})
	if len(mine.Spec.Tolerations) != 2 {
		t.Fatalf("tolerations %+v: want the pod's own and one default", mine.Spec.Tolerations)
	}
	if s, _ := seconds(mine, "node.kubernetes.io/unreachable"); s != 600 {
		t.Errorf("the pod's own unreachable toleration was replaced: %d", s)
	}
	all2 := create("everything", corev1.Toleration{Operator: corev1.TolerationOpExists})
	if len(all2.Spec.Tolerations) != 1 {
		t.Errorf("a pod tolerating every taint gets no defaults: %+v", all2.Spec.Tolerations)
	}
}
