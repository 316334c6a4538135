package openapi

import (
	"strings"

	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// buildV3 renders routes into one OpenAPI 3.0 document per v3 index key
// ("api/v1", "apis/apps/v1", "apis/apps", "apis", "api", "version"), each
// with the component schemas its paths need.
func buildV3(routes []route, defs *definitions, info spec.Info) (map[string]*spec3.OpenAPI, error) {
	byDoc := map[string][]route{}
	for _, rt := range routes {
		k := docKey(rt.path)
		byDoc[k] = append(byDoc[k], rt)
	}
	out := make(map[string]*spec3.OpenAPI, len(byDoc))
	for key, rs := range byDoc {
		var extra []string
		if isGroupVersionKey(key) {
			extra = alwaysModels
		}
		schemas, err := defs.buildV3(models(rs, extra))
		if err != nil {
			return nil, err
		}
		docInfo := info
		out[key] = &spec3.OpenAPI{
			Version:             "3.0.0",
			Info:                &docInfo,
			Paths:               &spec3.Paths{Paths: v3Paths(rs)},
			Components:          &spec3.Components{Schemas: schemas, SecuritySchemes: v3Security()},
			SecurityRequirement: []map[string][]string{{bearerToken: {}}},
		}
	}
	return out, nil
}

// isGroupVersionKey reports whether a v3 index key names a group-version
// document ("api/v1", "apis/apps/v1") rather than a discovery one.
func isGroupVersionKey(key string) bool {
	parts := strings.Split(key, "/")
	return (parts[0] == "api" && len(parts) == 2) || (parts[0] == "apis" && len(parts) == 3)
}

func v3Security() spec3.SecuritySchemes {
	return spec3.SecuritySchemes{bearerToken: &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
		Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
	}}}
}

func v3Paths(routes []route) map[string]*spec3.Path {
	out := map[string]*spec3.Path{}
	for path, rs := range byPath(routes) {
		common := commonParams(rs)
		item := &spec3.Path{}
		for _, p := range common {
			item.Parameters = append(item.Parameters, v3Param(p))
		}
		for _, rt := range rs {
			op := v3Operation(rt, common)
			switch rt.method {
			case "GET":
				item.Get = op
			case "PUT":
				item.Put = op
			case "POST":
				item.Post = op
			case "PATCH":
				item.Patch = op
			case "DELETE":
				item.Delete = op
			}
		}
		out[path] = item
	}
	return out
}

func v3Operation(rt route, common []param) *spec3.Operation {
	op := &spec3.Operation{OperationProps: spec3.OperationProps{
		OperationId: rt.operationID,
		Description: rt.description,
		Tags:        []string{rt.tag},
		Responses: &spec3.Responses{ResponsesProps: spec3.ResponsesProps{
			StatusCodeResponses: map[int]*spec3.Response{401: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}},
		}},
	}}
	for _, p := range ownParams(rt, common) {
		op.Parameters = append(op.Parameters, v3Param(p))
	}
	if rt.body != "" {
		content := map[string]*spec3.MediaType{}
		for _, mt := range rt.consumes {
			content[mt] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: refSchema("#/components/schemas/", rt.body)}}
		}
		op.RequestBody = &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{Content: content, Required: rt.bodyNeeded}}
	}
	for _, r := range rt.responses {
		content := map[string]*spec3.MediaType{}
		for _, mt := range rt.produces {
			content[mt] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: refSchema("#/components/schemas/", r.model)}}
		}
		op.Responses.StatusCodeResponses[r.code] = &spec3.Response{ResponseProps: spec3.ResponseProps{
			Description: r.description,
			Content:     content,
		}}
	}
	if rt.action != "" {
		op.AddExtension(extensionAction, rt.action)
	}
	if rt.gvk != nil {
		op.AddExtension(extensionGVK, map[string]interface{}{"group": rt.gvk.Group, "version": rt.gvk.Version, "kind": rt.gvk.Kind})
	}
	return op
}

func v3Param(p param) *spec3.Parameter {
	return &spec3.Parameter{ParameterProps: spec3.ParameterProps{
		Name:        p.name,
		In:          p.in,
		Description: p.description,
		Required:    p.required,
		Schema:      &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{p.typ}, UniqueItems: true}},
	}}
}
