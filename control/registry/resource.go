package registry

import (
	"context"

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
	// Storage, when set, is the kind objects are kept as; ToStorage and
	// FromStorage convert (events.k8s.io/v1 Events are kept as core/v1
	// Events, so both APIs see the same objects).
	Storage     schema.GroupVersionKind
	NewStorage  func() runtime.Object
	ToStorage   func(obj runtime.Object) runtime.Object
	FromStorage func(obj runtime.Object) runtime.Object
	// Finalizing reports finalizers of the resource's own that keep a
	// deleted object in the store beyond metadata.finalizers (a namespace's
	// spec.finalizers).
	Finalizing func(obj runtime.Object) bool
	// PrepareForDelete runs when an object's deletion starts and it stays in
	// the store (a namespace turns Terminating).
	PrepareForDelete func(obj runtime.Object)
	// Allocate runs after validation, before obj is written over old (nil on
	// create): the place to take cluster-wide values (cluster IPs, node
	// ports) and fill them in. The returned done is called once the write
	// succeeded (true: release what only old held) or failed (false: release
	// what was just taken). An error fails the write.
	Allocate func(ctx context.Context, obj, old runtime.Object) (done func(written bool), err error)
	// Release runs once an object is gone from the store, to free what
	// Allocate took for it.
	Release func(ctx context.Context, obj runtime.Object)
	// JSONStorage keeps the objects as JSON instead of Kubernetes protobuf:
	// for types with no protobuf encoding (Skiff's own group).
	JSONStorage bool
	// MaxBodyBytes, when positive, replaces the API server's request body
	// limit for writes of this resource (uploads of policy modules).
	MaxBodyBytes int
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

func (r *Resource) finalizing(obj runtime.Object) bool {
	return r.Finalizing != nil && r.Finalizing(obj)
}
