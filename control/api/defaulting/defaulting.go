package defaulting

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// Default fills in Kubernetes' defaults on obj in place. Lists are defaulted
// item by item. Unknown types, and known types without defaults, are left
// alone. Calling Default again on its own result changes nothing.
func Default(obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		defaultNamespace(o)
	case *corev1.Node:
		defaultNode(o)
	case *corev1.Pod:
		defaultPod(o)
	case *corev1.PodTemplate:
		defaultPodTemplateSpec(&o.Template)
	case *corev1.Service:
		defaultService(o)
	case *corev1.Endpoints:
		defaultEndpoints(o)
	case *corev1.ConfigMap:
		defaultConfigMap(o)
	case *corev1.Secret:
		defaultSecret(o)
	case *appsv1.Deployment:
		defaultDeployment(o)
	case *appsv1.ReplicaSet:
		defaultReplicaSet(o)
	case *discoveryv1.EndpointSlice:
		defaultEndpointSlice(o)
	default:
		if meta.IsListType(obj) {
			defaultList(obj)
		}
	}
}

// defaultList defaults every item of a typed or unstructured list. Items of a
// typed list come back from ExtractList as pointers into its Items slice, so
// defaulting them defaults the list.
func defaultList(list runtime.Object) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return // not a list after all: nothing to default
	}
	for _, item := range items {
		Default(item)
	}
}
