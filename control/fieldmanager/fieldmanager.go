// Package fieldmanager tracks which client owns which fields of an object
// (metadata.managedFields) and merges server-side apply requests, with
// k8s.io/apimachinery's managedfields (the code kube-apiserver runs) over
// type information from Skiff's generated OpenAPI schemas.
package fieldmanager

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"github.com/skiff-sh/skiff/control/api/defaulting"
	"github.com/skiff-sh/skiff/control/api/openapi"
	"github.com/skiff-sh/skiff/control/api/scheme"
)

// Manager keeps one kube field manager per kind and subresource.
type Manager struct {
	types    managedfields.TypeConverter
	mu       sync.Mutex
	managers map[key]*managedfields.FieldManager
}

type key struct {
	gvk         schema.GroupVersionKind
	subresource string
}

// New builds the type information of every served kind.
func New() (*Manager, error) {
	schemas, err := openapi.Schemas()
	if err != nil {
		return nil, fmt.Errorf("fieldmanager: %w", err)
	}
	tc, err := newTrustedConverter(schemas)
	if err != nil {
		return nil, err
	}
	return newManager(tc), nil
}

func newManager(tc managedfields.TypeConverter) *Manager {
	return &Manager{types: tc, managers: map[key]*managedfields.FieldManager{}}
}

// defaulter applies Skiff's defaulting where the field manager needs it
// (to compare an applied configuration with the live object).
type defaulter struct{}

func (defaulter) Default(obj runtime.Object) { defaulting.Default(obj) }

func (m *Manager) manager(gvk schema.GroupVersionKind, subresource string) (*managedfields.FieldManager, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key{gvk, subresource}
	if fm, ok := m.managers[k]; ok {
		return fm, nil
	}
	// Skiff keeps one version per kind, so the hub is the version itself.
	fm, err := managedfields.NewDefaultFieldManager(m.types, scheme.Scheme, defaulter{}, scheme.Scheme, gvk, gvk.GroupVersion(), subresource, nil)
	if err != nil {
		return nil, fmt.Errorf("fieldmanager: %v: %w", gvk, err)
	}
	m.managers[k] = fm
	return fm, nil
}

// Update records that manager set the fields obj changes relative to live
// (an empty object on create) and returns obj with its managedFields. Field
// tracking never fails a write: an object the type information cannot
// describe keeps its managedFields as they were.
func (m *Manager) Update(gvk schema.GroupVersionKind, live, obj runtime.Object, manager, subresource string) runtime.Object {
	fm, err := m.manager(gvk, subresource)
	if err != nil {
		return obj
	}
	return fm.UpdateNoErrors(live, obj, manager)
}

// Apply merges a server-side apply configuration (an unstructured object
// from the request) into live for manager. A field another manager owns
// with a different value is a 409 Conflict unless force.
func (m *Manager) Apply(gvk schema.GroupVersionKind, live, applied runtime.Object, manager, subresource string, force bool) (runtime.Object, error) {
	fm, err := m.manager(gvk, subresource)
	if err != nil {
		return nil, err
	}
	return fm.Apply(live, applied, manager, force)
}
