package openapi

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// route is one operation on one path, independent of the OpenAPI version it
// is rendered to. Models are OpenAPI model names (io.k8s.api.apps.v1.Deployment).
type route struct {
	path        string
	method      string // GET PUT POST PATCH DELETE
	operationID string
	description string
	tag         string
	action      string                   // x-kubernetes-action; "" for discovery routes
	gvk         *schema.GroupVersionKind // x-kubernetes-group-version-kind
	params      []param                  // path and query parameters
	body        string                   // request body model; "" for none
	bodyNeeded  bool
	consumes    []string
	produces    []string
	responses   []response
}

// response is one status code of a route; model "" means a plain string.
type response struct {
	code        int
	description string
	model       string
}

// param is a path or query parameter.
type param struct {
	name        string
	in          string // path or query
	typ         string // string, boolean, integer
	required    bool
	description string
}

const stringModel = "" // response model for plain-text responses

var (
	mediaTypes      = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	watchMediaTypes = []string{"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	patchMediaTypes = []string{
		"application/json-patch+json",
		"application/merge-patch+json",
		"application/strategic-merge-patch+json",
		"application/apply-patch+yaml",
	}
	anyMediaType = []string{"*/*"}
)

// Parameters, with the descriptions kube-apiserver gives them.
var (
	pPretty = param{name: "pretty", in: "query", typ: "string",
		description: "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."}
	pNamespace = param{name: "namespace", in: "path", typ: "string", required: true,
		description: "object name and auth scope, such as for teams and projects"}
	pDryRun = param{name: "dryRun", in: "query", typ: "string",
		description: "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed"}
	pFieldManager = param{name: "fieldManager", in: "query", typ: "string",
		description: "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint."}
	pFieldManagerPatch = param{name: "fieldManager", in: "query", typ: "string",
		description: "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch)."}
	pFieldValidation = param{name: "fieldValidation", in: "query", typ: "string",
		description: "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered."}
	pForce = param{name: "force", in: "query", typ: "boolean",
		description: "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."}
	pGracePeriod = param{name: "gracePeriodSeconds", in: "query", typ: "integer",
		description: "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately."}
	pIgnoreStoreReadError = param{name: "ignoreStoreReadErrorWithClusterBreakingPotential", in: "query", typ: "boolean",
		description: "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition checks, and removes the object from the storage. WARNING: This may potentially break the cluster if the workload associated with the resource being unsafe-deleted relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the user must opt in to enable it"}
	pOrphanDependents = param{name: "orphanDependents", in: "query", typ: "boolean",
		description: "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both."}
	pPropagationPolicy = param{name: "propagationPolicy", in: "query", typ: "string",
		description: "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."}
	pAllowWatchBookmarks = param{name: "allowWatchBookmarks", in: "query", typ: "boolean",
		description: "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored."}
	pContinue = param{name: "continue", in: "query", typ: "string",
		description: "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize. If the specified continue value is no longer valid whether due to expiration (generally five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 ResourceExpired error together with a continue token. If the client needs a consistent list, it must restart their list without the continue field. This field is not supported when watch is true."}
	pFieldSelector = param{name: "fieldSelector", in: "query", typ: "string",
		description: "A selector to restrict the list of returned objects by their fields. Defaults to everything."}
	pLabelSelector = param{name: "labelSelector", in: "query", typ: "string",
		description: "A selector to restrict the list of returned objects by their labels. Defaults to everything."}
	pLimit = param{name: "limit", in: "query", typ: "integer",
		description: "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results. Setting a limit may return fewer than the requested amount of items (up to zero items) in the event all requested objects are filtered out and clients should only use the presence of the continue field to determine whether more results are available."}
	pResourceVersion = param{name: "resourceVersion", in: "query", typ: "string",
		description: "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"}
	pResourceVersionMatch = param{name: "resourceVersionMatch", in: "query", typ: "string",
		description: "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"}
	pSendInitialEvents = param{name: "sendInitialEvents", in: "query", typ: "boolean",
		description: "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event will be sent. The bookmark will report the ResourceVersion (RV) corresponding to the set of objects, and be marked with `\"k8s.io/initial-events-end\": \"true\"` annotation. Afterwards, the watch stream will proceed as usual, sending watch events corresponding to changes (subsequent to the RV) to objects watched."}
	pTimeoutSeconds = param{name: "timeoutSeconds", in: "query", typ: "integer",
		description: "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity."}
	pWatch = param{name: "watch", in: "query", typ: "boolean",
		description: "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."}
)

// Model names of the meta types responses and bodies need.
const (
	modelStatus          = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
	modelDeleteOptions   = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
	modelPatch           = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
	modelWatchEvent      = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"
	modelAPIResourceList = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"
	modelAPIGroup        = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup"
	modelAPIGroupList    = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList"
	modelAPIVersions     = "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions"
	modelVersionInfo     = "io.k8s.apimachinery.pkg.version.Info"
)

// alwaysModels are put in every group-version document whether or not a
// path references them, as kube-apiserver's watch paths make it do.
var alwaysModels = []string{modelStatus, modelDeleteOptions, modelPatch, modelWatchEvent, modelAPIResourceList}

// modelNamer resolves a kind to its OpenAPI model name.
type modelNamer func(schema.GroupVersionKind) (string, error)

// resourceRoutes returns the routes of one resource: its collection,
// object, all-namespaces list and subresource paths.
func resourceRoutes(r Resource, model modelNamer) ([]route, error) {
	gv := groupVersion{schema.GroupVersion{Group: r.Group, Version: r.Version}}
	gvk := gv.WithKind(r.Kind)
	objModel, err := model(gvk)
	if err != nil {
		return nil, fmt.Errorf("openapi: %s %s: %w", gv.key(), r.Resource, err)
	}
	has := func(v string) bool { return slices.Contains(r.Verbs, v) }
	var listModel string
	if has("list") || has("watch") {
		if listModel, err = model(gv.WithKind(r.Kind + "List")); err != nil {
			return nil, fmt.Errorf("openapi: %s %s: list kind: %w", gv.key(), r.Resource, err)
		}
	}

	scope, collection, scopeParams := "", gv.prefix()+"/"+r.Resource, []param{pPretty}
	if r.Namespaced {
		scope = "Namespaced"
		collection = gv.prefix() + "/namespaces/{namespace}/" + r.Resource
		scopeParams = []param{pNamespace, pPretty}
	}
	object := collection + "/{name}"
	nameParam := param{name: "name", in: "path", typ: "string", required: true, description: "name of the " + r.Kind}
	objParams := append([]param{nameParam}, scopeParams...)

	base := func(path, method, verb, op, desc, action string) route {
		k := gvk
		return route{
			path: path, method: method, description: desc, tag: gv.tag(), action: action, gvk: &k,
			operationID: verb + gv.opPrefix() + op,
			produces:    mediaTypes, consumes: anyMediaType,
		}
	}
	var out []route

	if has("list") {
		rt := base(collection, "GET", "list", scope+r.Kind, "list or watch objects of kind "+r.Kind, "list")
		rt.params = append(slices.Clone(scopeParams), listParams(has("watch"))...)
		rt.produces = append(slices.Clone(mediaTypes), watchMediaTypes...)
		rt.responses = ok(listModel)
		out = append(out, rt)
		if r.Namespaced {
			all := base(gv.prefix()+"/"+r.Resource, "GET", "list", r.Kind+"ForAllNamespaces", "list or watch objects of kind "+r.Kind, "list")
			all.params = append([]param{pPretty}, listParams(has("watch"))...)
			all.produces = rt.produces
			all.responses = ok(listModel)
			out = append(out, all)
		}
	}
	if has("create") {
		rt := base(collection, "POST", "create", scope+r.Kind, "create "+article(r.Kind), "post")
		rt.params = append(slices.Clone(scopeParams), pDryRun, pFieldManager, pFieldValidation)
		rt.body, rt.bodyNeeded = objModel, true
		rt.responses = codes(objModel, 200, 201, 202)
		out = append(out, rt)
	}
	if has("deletecollection") {
		rt := base(collection, "DELETE", "delete", "Collection"+scope+r.Kind, "delete collection of "+r.Kind, "deletecollection")
		rt.params = append(slices.Clone(scopeParams), deleteCollectionParams()...)
		rt.body = modelDeleteOptions
		rt.responses = ok(modelStatus)
		out = append(out, rt)
	}
	if has("get") {
		rt := base(object, "GET", "read", scope+r.Kind, "read the specified "+r.Kind, "get")
		rt.params = slices.Clone(objParams)
		rt.responses = ok(objModel)
		out = append(out, rt)
	}
	if has("update") {
		out = append(out, replaceRoute(base(object, "PUT", "replace", scope+r.Kind, "replace the specified "+r.Kind, "put"), objParams, objModel))
	}
	if has("patch") {
		out = append(out, patchRoute(base(object, "PATCH", "patch", scope+r.Kind, "partially update the specified "+r.Kind, "patch"), objParams, objModel))
	}
	if has("delete") {
		rt := base(object, "DELETE", "delete", scope+r.Kind, "delete "+article(r.Kind), "delete")
		rt.params = append(slices.Clone(objParams), pDryRun, pGracePeriod, pIgnoreStoreReadError, pOrphanDependents, pPropagationPolicy)
		rt.body = modelDeleteOptions
		rt.responses = codes(modelStatus, 200, 202)
		out = append(out, rt)
	}

	for _, s := range r.Subresources {
		subRoutes, err := subresourceRoutes(r, s, gv, scope, object, objParams, model)
		if err != nil {
			return nil, err
		}
		out = append(out, subRoutes...)
	}
	return out, nil
}

// subresourceRoutes returns the routes of one subresource of r.
func subresourceRoutes(r Resource, s Subresource, gv groupVersion, scope, object string, objParams []param, model modelNamer) ([]route, error) {
	path := object + "/" + s.Name
	op := scope + r.Kind + toValidOperationID(s.Name, true)
	parentGVK := gv.WithKind(r.Kind)
	params := slices.Clone(objParams)
	if s.Kind == "" {
		return connectRoutes(r, s, gv, path, op, params, parentGVK), nil
	}
	subGVK := schema.GroupVersionKind{Group: s.Group, Version: s.Version, Kind: s.Kind}
	if subGVK.Version == "" {
		subGVK.Group, subGVK.Version = r.Group, r.Version
	}
	subModel, err := model(subGVK)
	if err != nil {
		return nil, fmt.Errorf("openapi: %s %s/%s: %w", gv.key(), r.Resource, s.Name, err)
	}
	// kube-apiserver names the object, not the subresource, in the name
	// parameter: "name of the Scale" for scale, "name of the Deployment"
	// for status.
	params[0].description = "name of the " + s.Kind
	base := func(method, verb, desc, action string) route {
		k := subGVK
		return route{
			path: path, method: method, description: desc, tag: gv.tag(), action: action, gvk: &k,
			operationID: verb + gv.opPrefix() + op,
			produces:    mediaTypes, consumes: anyMediaType,
		}
	}
	var out []route
	for _, v := range s.Verbs {
		switch v {
		case "get":
			rt := base("GET", "read", "read "+s.Name+" of the specified "+r.Kind, "get")
			rt.params = slices.Clone(params)
			rt.responses = ok(subModel)
			out = append(out, rt)
		case "update":
			out = append(out, replaceRoute(base("PUT", "replace", "replace "+s.Name+" of the specified "+r.Kind, "put"), params, subModel))
		case "patch":
			out = append(out, patchRoute(base("PATCH", "patch", "partially update "+s.Name+" of the specified "+r.Kind, "patch"), params, subModel))
		case "create":
			rt := base("POST", "create", "create "+s.Name+" of "+article(r.Kind), "post")
			rt.params = append(slices.Clone(params), pDryRun, pFieldManager, pFieldValidation)
			rt.body, rt.bodyNeeded = subModel, true
			rt.responses = codes(subModel, 200, 201, 202)
			out = append(out, rt)
		case "delete":
			rt := base("DELETE", "delete", "delete "+s.Name+" of "+article(r.Kind), "delete")
			rt.params = append(slices.Clone(params), pDryRun, pGracePeriod, pIgnoreStoreReadError, pOrphanDependents, pPropagationPolicy)
			rt.body = modelDeleteOptions
			rt.responses = codes(modelStatus, 200, 202)
			out = append(out, rt)
		}
	}
	return out, nil
}

// connectRoutes returns the routes of a subresource without a kind: "log"
// reads plain text, the others (exec, attach, portforward, proxy) connect.
func connectRoutes(r Resource, s Subresource, gv groupVersion, path, op string, params []param, parentGVK schema.GroupVersionKind) []route {
	params[0].description = "name of the " + r.Kind
	if s.Name == "log" {
		return []route{{
			path: path, method: "GET", operationID: "read" + gv.opPrefix() + op, tag: gv.tag(),
			description: "read log of the specified " + r.Kind, action: "get", gvk: &parentGVK,
			params:    slices.Clone(params),
			consumes:  anyMediaType,
			produces:  []string{"text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"},
			responses: []response{{code: 200, description: "OK", model: stringModel}},
		}}
	}
	var out []route
	for _, m := range []string{"GET", "POST"} {
		k := parentGVK
		out = append(out, route{
			path: path, method: m, tag: gv.tag(), action: "connect", gvk: &k,
			operationID: "connect" + gv.opPrefix() + toValidOperationID(strings.ToLower(m), true) + op,
			description: "connect " + m + " requests to " + s.Name + " of " + r.Kind,
			params:      slices.Clone(params),
			consumes:    anyMediaType,
			produces:    anyMediaType,
			responses:   []response{{code: 200, description: "OK", model: stringModel}},
		})
	}
	return out
}

func replaceRoute(rt route, params []param, model string) route {
	rt.params = append(slices.Clone(params), pDryRun, pFieldManager, pFieldValidation)
	rt.body, rt.bodyNeeded = model, true
	rt.responses = codes(model, 200, 201)
	return rt
}

func patchRoute(rt route, params []param, model string) route {
	rt.params = append(slices.Clone(params), pDryRun, pFieldManagerPatch, pFieldValidation, pForce)
	rt.body, rt.bodyNeeded = modelPatch, true
	rt.consumes = patchMediaTypes
	rt.responses = codes(model, 200, 201)
	return rt
}

func listParams(watch bool) []param {
	ps := []param{pContinue, pFieldSelector, pLabelSelector, pLimit, pResourceVersion, pResourceVersionMatch, pTimeoutSeconds}
	if watch {
		ps = append(ps, pAllowWatchBookmarks, pSendInitialEvents, pWatch)
	}
	return ps
}

func deleteCollectionParams() []param {
	return []param{pContinue, pDryRun, pFieldSelector, pGracePeriod, pIgnoreStoreReadError, pLabelSelector, pLimit,
		pOrphanDependents, pPropagationPolicy, pResourceVersion, pResourceVersionMatch, pSendInitialEvents, pTimeoutSeconds}
}

var statusText = map[int]string{200: "OK", 201: "Created", 202: "Accepted"}

func ok(model string) []response { return codes(model, 200) }

func codes(model string, cs ...int) []response {
	out := make([]response, 0, len(cs))
	for _, c := range cs {
		out = append(out, response{code: c, description: statusText[c], model: model})
	}
	return out
}

// article prefixes a kind with "a" or "an", as kube-apiserver's operation
// descriptions do ("create a Deployment", "delete an Endpoints").
func article(kind string) string {
	if kind != "" && strings.ContainsRune("AEIOU", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

// discoveryRoutes returns the discovery paths of the served groups:
// /api/, /api/v1/, /apis/, /apis/{group}/, /apis/{group}/{version}/ and
// /version/.
func discoveryRoutes(gvs []groupVersion) []route {
	get := func(path, id, desc, tag, model string) route {
		return route{
			path: path, method: "GET", operationID: id, description: desc, tag: tag,
			consumes: mediaTypes, produces: mediaTypes, responses: ok(model),
		}
	}
	out := []route{
		get("/apis/", "getAPIVersions", "get available API versions", "apis", modelAPIGroupList),
		get("/version/", "getCodeVersion", "get the version information for this server", "version", modelVersionInfo),
	}
	groups := map[string]bool{}
	for _, gv := range gvs {
		out = append(out, get(gv.prefix()+"/", "get"+gv.opPrefix()+"APIResources", "get available resources", gv.tag(), modelAPIResourceList))
		if groups[gv.Group] {
			continue
		}
		groups[gv.Group] = true
		if gv.Group == "" {
			out = append(out, get("/api/", "getCoreAPIVersions", "get available API versions", "core", modelAPIVersions))
			continue
		}
		name := toValidOperationID(gv.groupName(), true)
		out = append(out, get("/apis/"+gv.Group+"/", "get"+name+"APIGroup", "get information of a group", toValidOperationID(gv.groupName(), false), modelAPIGroup))
	}
	return out
}

// docKey is the v3 document a path belongs to: "api/v1", "apis/apps/v1",
// "apis/apps", "apis", "api" or "version".
func docKey(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case parts[0] == "api" && len(parts) >= 2:
		return "api/" + parts[1]
	case parts[0] == "apis" && len(parts) >= 3:
		return "apis/" + parts[1] + "/" + parts[2]
	case parts[0] == "apis" && len(parts) == 2:
		return "apis/" + parts[1]
	}
	return parts[0]
}
