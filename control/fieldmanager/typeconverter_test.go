package fieldmanager

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/control/api/openapi"
)

// TestTrustedConverterRecordsWhatKubeRecords tracks the same writes with
// the unvalidating converter and with managedfields' own, and compares the
// recorded fields.
func TestTrustedConverterRecordsWhatKubeRecords(t *testing.T) {
	schemas, err := openapi.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := newTrustedConverter(schemas)
	if err != nil {
		t.Fatal(err)
	}
	stock, err := managedfields.NewTypeConverter(schemas, false)
	if err != nil {
		t.Fatal(err)
	}
	ours, kube := newManager(trusted), newManager(stock)
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}}}}}}},
	}
	fields := func(obj any) []string {
		var out []string
		for _, e := range obj.(*appsv1.Deployment).ManagedFields {
			out = append(out, e.Manager+" "+string(e.Operation)+" "+string(e.FieldsV1.Raw))
		}
		return out
	}
	a := ours.Update(gvk, &appsv1.Deployment{}, d.DeepCopy(), "create", "")
	b := kube.Update(gvk, &appsv1.Deployment{}, d.DeepCopy(), "create", "")
	if fa, fb := fields(a), fields(b); len(fa) != 1 || fa[0] != fb[0] {
		t.Fatalf("create:\nours %v\nkube %v", fa, fb)
	}
	next := a.(*appsv1.Deployment).DeepCopy()
	next.Spec.Replicas = ptr.To[int32](5)
	next.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	a = ours.Update(gvk, a, next.DeepCopy(), "scaler", "")
	b = kube.Update(gvk, b, next.DeepCopy(), "scaler", "")
	if fa, fb := fields(a), fields(b); len(fa) != 2 || fa[0] != fb[0] || fa[1] != fb[1] {
		t.Fatalf("update:\nours %v\nkube %v", fa, fb)
	}
}
