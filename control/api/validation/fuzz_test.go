package validation

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// FuzzValidate feeds user-shaped JSON to every entry point: validation
// meets objects straight from requests and must never panic on them.
func FuzzValidate(f *testing.F) {
	for _, obj := range []any{validPod(), validService(), validDeployment(), validEndpointSlice()} {
		b, err := json.Marshal(obj)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, b)
	}
	f.Add([]byte(`{"spec":{"containers":[{"name":"a"}],"initContainers":[{}]}}`),
		[]byte(`{"spec":{"clusterIPs":["None","10.0.0.1"],"ipFamilies":["IPv6"]}}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, newObj := range []func() runtime.Object{
			func() runtime.Object { return &corev1.Pod{} },
			func() runtime.Object { return &corev1.Service{} },
			func() runtime.Object { return &appsv1.Deployment{} },
			func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		} {
			obj, old := newObj(), newObj()
			if json.Unmarshal(a, obj) != nil || json.Unmarshal(b, old) != nil {
				continue
			}
			ValidateCreate(obj)
			ValidateUpdate(obj, old)
			ValidateStatusUpdate(obj, old)
		}
	})
}
