package apiserver

import (
	"fmt"
	"strings"

	"github.com/skiff-sh/skiff/control/api/openapi"
	"github.com/skiff-sh/skiff/control/registry"
)

// newOpenAPI builds the OpenAPI v2 and v3 documents of the served
// resources from the same entries discovery lists. Types without generated
// schemas (Skiff's own group, which has no protobuf either) are left out,
// as a CustomResourceDefinition without a schema is: kubectl then reads and
// writes them without client-side validation.
func newOpenAPI(reg *registry.Registry) (*openapi.Documents, error) {
	var list []openapi.Resource
	for _, s := range reg.Stores() {
		r := s.Resource()
		if !hasProtobuf(r) {
			continue
		}
		entries := apiResources(r)
		res := openapi.Resource{
			Group: r.Kind.Group, Version: r.Kind.Version, Kind: r.Kind.Kind, Resource: r.Plural,
			Namespaced: r.Namespaced, Verbs: entries[0].Verbs,
		}
		for _, e := range entries[1:] {
			_, name, _ := strings.Cut(e.Name, "/")
			sub := openapi.Subresource{Name: name, Group: e.Group, Version: e.Version, Kind: e.Kind, Verbs: e.Verbs}
			if name == "log" {
				sub.Kind = ""
			}
			res.Subresources = append(res.Subresources, sub)
		}
		list = append(list, res)
	}
	docs, err := openapi.New(list)
	if err != nil {
		return nil, fmt.Errorf("apiserver: openapi: %w", err)
	}
	return docs, nil
}
