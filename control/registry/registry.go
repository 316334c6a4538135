package registry

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Registry is the set of stores of every served resource, sharing one KV.
type Registry struct {
	kv     KV
	stores []*Store
	byGVR  map[schema.GroupVersionResource]*Store
	byGVK  map[schema.GroupVersionKind]*Store
}

// NewRegistry makes a store per resource. Creates in a namespace check that
// it exists and is not terminating when a "namespaces" resource is among
// them.
func NewRegistry(kv KV, resources []*Resource) *Registry {
	r := &Registry{kv: kv, byGVR: map[schema.GroupVersionResource]*Store{}, byGVK: map[schema.GroupVersionKind]*Store{}}
	for _, res := range resources {
		s := NewStore(kv, res)
		r.stores = append(r.stores, s)
		r.byGVR[res.Kind.GroupVersion().WithResource(res.Plural)] = s
		r.byGVK[res.Kind] = s
	}
	if ns := r.Namespaces(); ns != nil {
		for _, s := range r.stores {
			s.NamespaceReady = namespaceReady(ns)
			s.NamespaceKey = func(name string) string { return ns.res.Key("", name) }
		}
	}
	return r
}

// TrackFields makes every store record field ownership with t.
func (r *Registry) TrackFields(t FieldTracker) {
	for _, s := range r.stores {
		s.Fields = t
	}
}

// KV is the store the registry writes to (policy modules keep their bytes
// beside their objects in it).
func (r *Registry) KV() KV { return r.kv }

// Stores returns every store, in the order of the resources given.
func (r *Registry) Stores() []*Store { return r.stores }

// Store returns the store of a group, version and resource, or nil.
func (r *Registry) Store(gvr schema.GroupVersionResource) *Store { return r.byGVR[gvr] }

// StoreFor returns the store of a kind, or nil.
func (r *Registry) StoreFor(gvk schema.GroupVersionKind) *Store { return r.byGVK[gvk] }

// Namespaces returns the store of core/v1 namespaces, or nil.
func (r *Registry) Namespaces() *Store {
	return r.byGVR[schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}]
}

// namespaceReady refuses creates in a missing or terminating namespace. It
// reads the local replica, and the whole cluster only when the namespace
// is missing there (it may be new); the create's transaction checks again
// that the namespace exists when it commits.
func namespaceReady(namespaces *Store) func(ctx context.Context, ns string) error {
	return func(ctx context.Context, ns string) error {
		obj, err := namespaces.GetLocal(ctx, "", ns)
		if apierrors.IsNotFound(err) {
			obj, err = namespaces.Get(ctx, "", ns)
		}
		if err != nil {
			return err
		}
		if m, ok := obj.(metav1.Object); ok && m.GetDeletionTimestamp() != nil {
			return apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, ns,
				fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		}
		return nil
	}
}
