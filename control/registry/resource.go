package registry

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one REST resource and what is particular to it. The
// hooks are optional; a nil hook does nothing.
type Resource struct {
	// Kind is the group, version and kind of the stored objects.
	Kind schema.GroupVersionKind
	// Plural and Singular name the resource in URLs and discovery
	// ("deployments", "deployment").
	Plural, Singular string
	ShortNames       []string
	Categories       []string
	Namespaced       bool
	// Prefix is the store key prefix, without the trailing slash
	// ("/registry/deployments").
	Prefix string

	New     func() runtime.Object
	NewList func() runtime.Object

	// Status reports that the objects have a status written only through the
	// /status subresource: updates of the object keep the stored status,
	// status updates keep everything else.
	Status bool
	// Generation reports that metadata.generation starts at 1 and grows when
	// the spec changes.
	Generation bool
	// AllowCreateOnUpdate lets PUT create a missing object.
	AllowCreateOnUpdate bool

	// Default fills in defaults (on create, update and after patches).
	Default func(obj runtime.Object)
	// PrepareForCreate resets what a client may not set on create (often
	// the status).
	PrepareForCreate func(obj runtime.Object)
	// PrepareForUpdate adjusts obj before it replaces old.
	PrepareForUpdate func(obj, old runtime.Object)
	// Validate and ValidateUpdate return field errors; ValidateStatus checks
	// writes through /status.
	Validate       func(obj runtime.Object) field.ErrorList
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList
	ValidateStatus func(obj, old runtime.Object) field.ErrorList
	// Fields returns the resource's field selector attributes beyond
	// metadata.name and metadata.namespace.
	Fields func(obj runtime.Object) fields.Set
	// GracePeriod returns how long a deletion waits for the object's owner
	// (a node, for pods) to confirm it; 0 deletes at once. It sees the
	// client's requested grace period (nil: none given).
	GracePeriod func(obj runtime.Object, requested *int64) int64
	// BeforeCreate runs after validation, before the object is written: the
	// place to allocate (cluster IPs, node ports). An error fails the create.
	BeforeCreate func(obj runtime.Object) error
	// AfterDelete runs once the object is gone from the store (releases what
	// BeforeCreate allocated).
	AfterDelete func(obj runtime.Object)
}

// GroupResource names the resource for errors.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Kind.Group, Resource: r.Plural}
}

// Key is the store key of the named object.
func (r *Resource) Key(namespace, name string) string {
	if r.Namespaced {
		return r.Prefix + "/" + namespace + "/" + name
	}
	return r.Prefix + "/" + name
}

// ListPrefix is the key prefix of the objects of one namespace ("" for all).
func (r *Resource) ListPrefix(namespace string) string {
	if r.Namespaced && namespace != "" {
		return r.Prefix + "/" + namespace + "/"
	}
	return r.Prefix + "/"
}

// attrs returns the labels and fields selectors match against.
func (r *Resource) attrs(obj runtime.Object) (map[string]string, fields.Set) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, nil
	}
	f := fields.Set{"metadata.name": m.GetName()}
	if r.Namespaced {
		f["metadata.namespace"] = m.GetNamespace()
	}
	if r.Fields != nil {
		for k, v := range r.Fields(obj) {
			f[k] = v
		}
	}
	return m.GetLabels(), f
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, errNotObject(obj)
	}
	return m, nil
}
