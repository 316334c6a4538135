package resources

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/control/registry"
)

// All returns the served resources, in discovery order, freshly built
// (callers may keep them; Service allocation state lives in them).
func All() []*registry.Resource {
	var all []*registry.Resource
	all = append(all, core()...)
	all = append(all, apps()...)
	all = append(all, others()...)
	return all
}

// base fills in what every resource shares: names, store prefix and the
// generic defaulting and validation hooks.
func base(gvk schema.GroupVersionKind, plural, singular string, namespaced bool, newObj, newList func() runtime.Object) *registry.Resource {
	return &registry.Resource{
		Kind: gvk, Plural: plural, Singular: singular, Namespaced: namespaced,
		Prefix: "/registry/" + plural,
		New:    newObj, NewList: newList,
		Default:        defaultObject,
		Validate:       validateCreate,
		ValidateUpdate: validateUpdate,
		ValidateStatus: validateStatus,
	}
}
