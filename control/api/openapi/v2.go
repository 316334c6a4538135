package openapi

import (
	"sort"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

const (
	extensionAction = "x-kubernetes-action"
	bearerToken     = "BearerToken"
)

// buildV2 renders routes and the definitions they need into a Swagger 2.0
// document.
func buildV2(routes []route, defs *definitions, info spec.Info) (*spec.Swagger, error) {
	paths := map[string]spec.PathItem{}
	for path, rs := range byPath(routes) {
		common := commonParams(rs)
		item := spec.PathItem{}
		for _, p := range common {
			item.Parameters = append(item.Parameters, v2Param(p))
		}
		for _, rt := range rs {
			op := v2Operation(rt, common)
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
		paths[path] = item
	}
	definitions, err := defs.buildV2(models(routes, alwaysModels))
	if err != nil {
		return nil, err
	}
	return &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        &info,
		Paths:       &spec.Paths{Paths: paths},
		Definitions: definitions,
		SecurityDefinitions: spec.SecurityDefinitions{bearerToken: &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
		}}},
		Security: []map[string][]string{{bearerToken: {}}},
	}}, nil
}

func v2Operation(rt route, common []param) *spec.Operation {
	op := &spec.Operation{OperationProps: spec.OperationProps{
		ID:          rt.operationID,
		Description: rt.description,
		Tags:        []string{rt.tag},
		Consumes:    rt.consumes,
		Produces:    rt.produces,
		Schemes:     []string{"https"},
		Responses: &spec.Responses{ResponsesProps: spec.ResponsesProps{
			StatusCodeResponses: map[int]spec.Response{401: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}},
		}},
	}}
	for _, p := range ownParams(rt, common) {
		op.Parameters = append(op.Parameters, v2Param(p))
	}
	if rt.body != "" {
		op.Parameters = append(op.Parameters, spec.Parameter{ParamProps: spec.ParamProps{
			Name: "body", In: "body", Required: rt.bodyNeeded, Schema: refSchema("#/definitions/", rt.body),
		}})
		sortV2Params(op.Parameters)
	}
	for _, r := range rt.responses {
		op.Responses.StatusCodeResponses[r.code] = spec.Response{ResponseProps: spec.ResponseProps{
			Description: r.description,
			Schema:      refSchema("#/definitions/", r.model),
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

func v2Param(p param) spec.Parameter {
	return spec.Parameter{
		ParamProps:        spec.ParamProps{Name: p.name, In: p.in, Description: p.description, Required: p.required},
		SimpleSchema:      spec.SimpleSchema{Type: p.typ},
		CommonValidations: spec.CommonValidations{UniqueItems: true},
	}
}

func sortV2Params(ps []spec.Parameter) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Name != ps[j].Name {
			return ps[i].Name < ps[j].Name
		}
		return ps[i].In < ps[j].In
	})
}

// refSchema is a reference to model under prefix, or a plain string schema
// for stringModel.
func refSchema(prefix, model string) *spec.Schema {
	if model == stringModel {
		return &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}}
	}
	return &spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(prefix + model)}}
}

// byPath groups routes by path.
func byPath(routes []route) map[string][]route {
	out := map[string][]route{}
	for _, rt := range routes {
		out[rt.path] = append(out[rt.path], rt)
	}
	return out
}

// commonParams returns the parameters every route of a path has, sorted by
// name: kube-openapi's builders hoist these to the path item.
func commonParams(rs []route) []param {
	var out []param
	for _, p := range rs[0].params {
		shared := true
		for _, rt := range rs[1:] {
			if !hasParam(rt.params, p) {
				shared = false
				break
			}
		}
		if shared {
			out = append(out, p)
		}
	}
	sortParams(out)
	return out
}

// ownParams returns the route's parameters not hoisted to the path, sorted.
func ownParams(rt route, common []param) []param {
	var out []param
	for _, p := range rt.params {
		if !hasParam(common, p) {
			out = append(out, p)
		}
	}
	sortParams(out)
	return out
}

func hasParam(ps []param, p param) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func sortParams(ps []param) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].name != ps[j].name {
			return ps[i].name < ps[j].name
		}
		return ps[i].in < ps[j].in
	})
}

// models returns the models routes reference plus extra, without
// duplicates, sorted.
func models(routes []route, extra []string) []string {
	set := map[string]bool{}
	for _, m := range extra {
		set[m] = true
	}
	for _, rt := range routes {
		if rt.body != "" {
			set[rt.body] = true
		}
		for _, r := range rt.responses {
			if r.model != stringModel {
				set[r.model] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}
