package resources

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/registry"
)

// others are the resources of the small groups: endpoint slices and leases.
func others() []*registry.Resource {
	slices := base(discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"), "endpointslices", "endpointslice", true,
		func() runtime.Object { return &discoveryv1.EndpointSlice{} }, func() runtime.Object { return &discoveryv1.EndpointSliceList{} })
	slices.Generation = true

	lease := base(coordinationv1.SchemeGroupVersion.WithKind("Lease"), "leases", "lease", true,
		func() runtime.Object { return &coordinationv1.Lease{} }, func() runtime.Object { return &coordinationv1.LeaseList{} })
	lease.AllowCreateOnUpdate = true

	return []*registry.Resource{slices, eventsV1(), lease}
}
