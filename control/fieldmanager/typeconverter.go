package fieldmanager

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/schemaconv"
	"k8s.io/kube-openapi/pkg/validation/spec"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// trustedConverter is managedfields' type converter with one difference:
// objects that come typed from Skiff itself (k8s.io/api structs, decoded
// and defaulted by the server) are not validated against their schema on
// every conversion, which is a whole walk of the object and a third of
// field tracking's cost. A Go struct of the generated type cannot break
// its own schema's types; what the walk would also catch (duplicate keys
// in keyed lists) is refused by Kubernetes validation. Apply
// configurations, which come from users as unstructured data, are still
// validated.
type trustedConverter struct {
	types map[schema.GroupVersionKind]*typed.ParseableType
}

var _ managedfields.TypeConverter = (*trustedConverter)(nil)

func newTrustedConverter(schemas map[string]*spec.Schema) (*trustedConverter, error) {
	converted, err := schemaconv.ToSchemaFromOpenAPI(schemas, false)
	if err != nil {
		return nil, fmt.Errorf("fieldmanager: schemas: %w", err)
	}
	parser := &typed.Parser{Schema: smdschema.Schema{Types: converted.Types}}
	t := &trustedConverter{types: map[schema.GroupVersionKind]*typed.ParseableType{}}
	for name, s := range schemas {
		list, _ := s.Extensions[extensionGVK].([]interface{})
		for _, item := range list {
			m, ok := item.(map[string]interface{})
			if !ok {
				continue
			}
			g, _ := m["group"].(string)
			v, _ := m["version"].(string)
			k, _ := m["kind"].(string)
			pt := parser.Type(name)
			t.types[schema.GroupVersionKind{Group: g, Version: v, Kind: k}] = &pt
		}
	}
	return t, nil
}

const extensionGVK = "x-kubernetes-group-version-kind"

// ObjectToTyped converts obj without validating typed objects.
func (t *trustedConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	gvk := obj.GetObjectKind().GroupVersionKind()
	pt := t.types[gvk]
	if pt == nil {
		return nil, fmt.Errorf("fieldmanager: no schema for %v", gvk)
	}
	// Both kinds of objects must use this parser's schema: merges compare
	// the schemas of their two sides.
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return pt.FromUnstructured(u.UnstructuredContent(), opts...)
	}
	v, err := value.NewValueReflect(obj)
	if err != nil {
		return nil, fmt.Errorf("fieldmanager: %T: %w", obj, err)
	}
	return typed.AsTypedUnvalidated(v, pt.Schema, pt.TypeRef), nil
}

// TypedToObject returns the value as an unstructured object, as
// managedfields' own converter does.
func (t *trustedConverter) TypedToObject(tv *typed.TypedValue) (runtime.Object, error) {
	m, ok := tv.AsValue().Unstructured().(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("fieldmanager: typed value is a %T, not an object", tv.AsValue().Unstructured())
	}
	return &unstructured.Unstructured{Object: m}, nil
}
