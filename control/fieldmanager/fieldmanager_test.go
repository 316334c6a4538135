package fieldmanager_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/control/fieldmanager"
)

var deployGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")

func deployment() *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}},
		},
	}
}

func applied(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUpdateRecordsOwnersAndApplyConflicts(t *testing.T) {
	m, err := fieldmanager.New()
	if err != nil {
		t.Fatal(err)
	}
	created := m.Update(deployGVK, &appsv1.Deployment{}, deployment(), "kubectl-create", "").(*appsv1.Deployment)
	if len(created.ManagedFields) != 1 || created.ManagedFields[0].Manager != "kubectl-create" || created.ManagedFields[0].Operation != metav1.ManagedFieldsOperationUpdate {
		t.Fatalf("managedFields after create: %+v", created.ManagedFields)
	}

	// An apply of replicas by another manager conflicts with kubectl-create's
	// ownership of spec.replicas.
	cfg := applied(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
`)
	_, err = m.Apply(deployGVK, created.DeepCopy(), cfg, "ci", "", false)
	if !apierrors.IsConflict(err) || err == nil {
		t.Fatalf("conflicting apply: %v, want a 409 Conflict", err)
	}
	obj, err := m.Apply(deployGVK, created.DeepCopy(), cfg, "ci", "", true)
	if err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	d := obj.(*appsv1.Deployment)
	if *d.Spec.Replicas != 3 || d.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" {
		t.Errorf("after forced apply: replicas %d image %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	}
	var managers []string
	for _, e := range d.ManagedFields {
		managers = append(managers, e.Manager+"/"+string(e.Operation))
	}
	if len(managers) != 2 {
		t.Errorf("managers after forced apply: %v, want kubectl-create and ci", managers)
	}
}

// BenchmarkCreate is field tracking's cost for a new pod, the API's most
// frequent write.
func BenchmarkCreate(b *testing.B) {
	m, err := fieldmanager.New()
	if err != nil {
		b.Fatal(err)
	}
	gvk := corev1.SchemeGroupVersion.WithKind("Pod")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: deployment().Spec.Template.Spec}
	for b.Loop() {
		m.Update(gvk, &corev1.Pod{}, pod.DeepCopy(), "bench", "")
	}
}
