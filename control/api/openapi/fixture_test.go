package openapi

import (
	"sync"
	"testing"
)

var objVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

var statusVerbs = []string{"get", "patch", "update"}

// skiffResources is the resource table the API server serves.
func skiffResources() []Resource {
	return []Resource{
		{Version: "v1", Kind: "Namespace", Resource: "namespaces", Verbs: []string{"create", "delete", "get", "list", "patch", "update", "watch"},
			Subresources: []Subresource{{Name: "status", Kind: "Namespace", Verbs: statusVerbs}}},
		{Version: "v1", Kind: "Node", Resource: "nodes", Verbs: objVerbs,
			Subresources: []Subresource{{Name: "status", Kind: "Node", Verbs: statusVerbs}}},
		{Version: "v1", Kind: "Pod", Resource: "pods", Namespaced: true, Verbs: objVerbs,
			Subresources: []Subresource{
				{Name: "status", Kind: "Pod", Verbs: statusVerbs},
				{Name: "binding", Kind: "Binding", Verbs: []string{"create"}},
				{Name: "log", Verbs: []string{"get"}},
				{Name: "exec", Verbs: []string{"get", "create"}},
			}},
		{Version: "v1", Kind: "Service", Resource: "services", Namespaced: true, Verbs: objVerbs,
			Subresources: []Subresource{{Name: "status", Kind: "Service", Verbs: statusVerbs}}},
		{Version: "v1", Kind: "Endpoints", Resource: "endpoints", Namespaced: true, Verbs: objVerbs},
		{Version: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespaced: true, Verbs: objVerbs},
		{Version: "v1", Kind: "Secret", Resource: "secrets", Namespaced: true, Verbs: objVerbs},
		{Version: "v1", Kind: "Event", Resource: "events", Namespaced: true, Verbs: objVerbs},
		{Group: "apps", Version: "v1", Kind: "Deployment", Resource: "deployments", Namespaced: true, Verbs: objVerbs,
			Subresources: []Subresource{
				{Name: "status", Kind: "Deployment", Verbs: statusVerbs},
				{Name: "scale", Group: "autoscaling", Version: "v1", Kind: "Scale", Verbs: statusVerbs},
			}},
		{Group: "apps", Version: "v1", Kind: "ReplicaSet", Resource: "replicasets", Namespaced: true, Verbs: objVerbs,
			Subresources: []Subresource{
				{Name: "status", Kind: "ReplicaSet", Verbs: statusVerbs},
				{Name: "scale", Group: "autoscaling", Version: "v1", Kind: "Scale", Verbs: statusVerbs},
			}},
		{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice", Resource: "endpointslices", Namespaced: true, Verbs: objVerbs},
		{Group: "events.k8s.io", Version: "v1", Kind: "Event", Resource: "events", Namespaced: true, Verbs: objVerbs},
		{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease", Resource: "leases", Namespaced: true, Verbs: objVerbs},
	}
}

// docs builds the documents for skiffResources once per test binary.
var docs = sync.OnceValues(func() (*Documents, error) { return New(skiffResources()) })

func newDocs(t testing.TB) *Documents {
	t.Helper()
	d, err := docs()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}
