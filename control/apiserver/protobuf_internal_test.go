package apiserver

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/control/registry"
)

// TestHasProtobuf: k8s.io/api types have a protobuf encoding (and so
// OpenAPI schemas and protobuf answers), Skiff's own group has neither.
// A wrong answer once dropped every Kubernetes type from OpenAPI, and
// `kubectl explain` with it.
func TestHasProtobuf(t *testing.T) {
	for _, tc := range []struct {
		obj  runtime.Object
		want bool
	}{
		{&corev1.Pod{}, true},
		{&appsv1.Deployment{}, true},
		{&skiffv1alpha1.SchedulingPolicy{}, false},
		{&skiffv1alpha1.PolicyModule{}, false},
	} {
		res := &registry.Resource{New: func() runtime.Object { return tc.obj }}
		if got := hasProtobuf(res); got != tc.want {
			t.Errorf("hasProtobuf(%T) = %v, want %v", tc.obj, got, tc.want)
		}
	}
}
