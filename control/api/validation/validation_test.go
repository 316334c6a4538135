package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestUnknownTypeIsAccepted(t *testing.T) {
	obj := &metav1.Status{}
	checkErrs(t, ValidateCreate(obj))
	checkErrs(t, ValidateUpdate(obj, obj))
	checkErrs(t, ValidateStatusUpdate(obj, obj))
}

func TestUpdateTypeMismatch(t *testing.T) {
	for _, f := range []func(obj, old *corev1.Pod) field.ErrorList{
		func(obj, _ *corev1.Pod) field.ErrorList { return ValidateUpdate(obj, &appsv1.Deployment{}) },
		func(obj, _ *corev1.Pod) field.ErrorList { return ValidateStatusUpdate(obj, &appsv1.Deployment{}) },
	} {
		errs := f(validPod(), nil)
		if len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
			t.Fatalf("want one internal error, got %v", errs)
		}
	}
}

// TestStatusUpdateIgnoresSpec: a status write is not held to the spec rules
// of a normal update, as in Kubernetes.
func TestStatusUpdateIgnoresSpec(t *testing.T) {
	old := validDeployment()
	old.ObjectMeta = withRV(old.ObjectMeta)
	d := old.DeepCopy()
	d.Spec.Selector = &metav1.LabelSelector{}
	checkErrs(t, ValidateStatusUpdate(d, old))
	checkErrs(t, ValidateUpdate(d, old),
		invalid("spec.selector", "empty selector is invalid for deployment"),
		invalid("spec.selector", "field is immutable"))
}
