package registry

import (
	"reflect"

	"k8s.io/apimachinery/pkg/runtime"
)

// fieldOf returns the named top-level field of a pointer-to-struct object
// (Spec, Status), or the zero Value when it has none. Every k8s.io/api
// type with a spec/status split names them so.
func fieldOf(obj runtime.Object, name string) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}
