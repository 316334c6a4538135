package openapi

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

const extensionGVK = "x-kubernetes-group-version-kind"

// definitions turns the generated schemas into the named, GVK-annotated
// definitions of a document, the way kube-apiserver's definition namer and
// kube-openapi's builders do.
type definitions struct {
	scheme *runtime.Scheme
	// gvks maps a model name to the kinds registered with that type, sorted.
	gvks map[string][]schema.GroupVersionKind
	// known holds the model names the generated file defines.
	known map[string]bool
	// v3 is the generated definitions with v3 references, built once.
	v3 map[string]common.OpenAPIDefinition
}

func newDefinitions() (*definitions, error) {
	s, err := newScheme()
	if err != nil {
		return nil, err
	}
	d := &definitions{scheme: s, gvks: map[string][]schema.GroupVersionKind{}, known: map[string]bool{}}
	for gvk := range s.AllKnownTypes() {
		name, err := s.ToOpenAPIDefinitionName(gvk)
		if err != nil {
			return nil, fmt.Errorf("openapi: definition name of %v: %w", gvk, err)
		}
		name = friendlyName(name)
		d.gvks[name] = append(d.gvks[name], gvk)
	}
	for _, list := range d.gvks {
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	d.v3 = GetOpenAPIDefinitions(func(name string) spec.Ref {
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(friendlyName(name)))
	})
	for name := range d.v3 {
		d.known[friendlyName(name)] = true
	}
	return d, nil
}

// friendlyName is the definition name of a generated model: model names
// (io.k8s.api.apps.v1.Deployment) are kept, canonical Go names
// (k8s.io/api/apps/v1.Deployment) are made REST-friendly as kube-apiserver's
// namer does.
func friendlyName(name string) string {
	if strings.Contains(name, "/") {
		return util.ToRESTFriendlyName(name)
	}
	return name
}

// modelName returns the definition name of a kind, or an error if the
// generated file has no schema for it.
func (d *definitions) modelName(gvk schema.GroupVersionKind) (string, error) {
	name, err := d.scheme.ToOpenAPIDefinitionName(gvk)
	if err != nil {
		return "", fmt.Errorf("kind %v is not registered: %w", gvk, err)
	}
	name = friendlyName(name)
	if !d.known[name] {
		return "", fmt.Errorf("no generated schema %s for kind %v (add its package to the go:generate line in doc.go)", name, gvk)
	}
	return name, nil
}

// definitionName is kube-openapi's GetDefinitionName: the definition's name
// and, for types registered as kinds, x-kubernetes-group-version-kind.
func (d *definitions) definitionName(name string) (string, spec.Extensions) {
	name = friendlyName(name)
	gvks, ok := d.gvks[name]
	if !ok {
		return name, nil
	}
	list := make([]interface{}, 0, len(gvks))
	for _, gvk := range gvks {
		list = append(list, map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
	}
	return name, spec.Extensions{extensionGVK: list}
}

// buildV2 returns the v2 definitions of names and of everything they
// reference, with defaults pruned as kube-apiserver serves them.
func (d *definitions) buildV2(names []string) (spec.Definitions, error) {
	sw, err := builder.BuildOpenAPIDefinitionsForResources(&common.Config{
		Info:              &spec.Info{},
		GetDefinitions:    GetOpenAPIDefinitions,
		GetDefinitionName: d.definitionName,
	}, names...)
	if err != nil {
		return nil, fmt.Errorf("openapi: build v2 definitions: %w", err)
	}
	return handler.PruneDefaults(sw.Definitions), nil
}

// buildV3 returns the v3 component schemas of names and of everything they
// reference.
func (d *definitions) buildV3(names []string) (map[string]*spec.Schema, error) {
	schemas, err := builder3.BuildOpenAPIDefinitionsForResources(&common.OpenAPIV3Config{
		Info:              &spec.Info{},
		Definitions:       d.v3,
		GetDefinitionName: d.definitionName,
	}, names...)
	if err != nil {
		return nil, fmt.Errorf("openapi: build v3 definitions: %w", err)
	}
	return schemas, nil
}
