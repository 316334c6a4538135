package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Serving paths.
const (
	V2Path = "/openapi/v2"
	V3Path = "/openapi/v3"
)

// Documents holds the OpenAPI documents built for one resource list and
// serves them. It is immutable once built and safe for concurrent use.
type Documents struct {
	swagger *spec.Swagger
	v3      map[string]*spec3.OpenAPI
	v2h     http.Handler
	v3s     *handler3.OpenAPIService
}

// New builds the v2 document and the v3 documents (one per group-version,
// plus the api, apis, apis/{group} and version discovery documents) for
// resources. It fails if a resource is malformed or names a kind the
// generated schemas do not cover.
func New(resources []Resource) (*Documents, error) {
	if err := validate(resources); err != nil {
		return nil, err
	}
	defs, err := newDefinitions()
	if err != nil {
		return nil, err
	}
	sorted := append([]Resource(nil), resources...)
	sort.SliceStable(sorted, func(i, j int) bool { return resourceLess(sorted[i], sorted[j]) })
	routes := discoveryRoutes(groupVersions(sorted))
	for _, r := range sorted {
		rs, err := resourceRoutes(r, defs.modelName)
		if err != nil {
			return nil, err
		}
		routes = append(routes, rs...)
	}
	if err := checkUnique(routes); err != nil {
		return nil, err
	}

	info := spec.Info{InfoProps: spec.InfoProps{Title: "Skiff", Version: "unversioned"}}
	swagger, err := buildV2(routes, defs, info)
	if err != nil {
		return nil, err
	}
	v3, err := buildV3(routes, defs, info)
	if err != nil {
		return nil, err
	}
	// Marshal once so a document that cannot be encoded fails here, not on
	// the first request.
	if _, err := json.Marshal(swagger); err != nil {
		return nil, fmt.Errorf("openapi: encode v2 document: %w", err)
	}

	d := &Documents{swagger: swagger, v3: v3, v3s: handler3.NewOpenAPIService()}
	var capture capturePath
	handler.NewOpenAPIService(swagger).RegisterOpenAPIVersionedService(V2Path, &capture)
	d.v2h = capture.h
	for key, doc := range v3 {
		d.v3s.UpdateGroupVersion(key, doc)
	}
	return d, nil
}

// resourceLess orders resources by group-version key, then plural.
func resourceLess(a, b Resource) bool {
	ka := groupVersion{schema.GroupVersion{Group: a.Group, Version: a.Version}}.key()
	kb := groupVersion{schema.GroupVersion{Group: b.Group, Version: b.Version}}.key()
	if ka != kb {
		return ka < kb
	}
	return a.Resource < b.Resource
}

// checkUnique rejects two routes with the same method and path or the same
// operation id, which two resource entries naming the same plural would make.
func checkUnique(routes []route) error {
	seen := map[string]bool{}
	ids := map[string]string{}
	for _, rt := range routes {
		k := rt.method + " " + rt.path
		if seen[k] {
			return fmt.Errorf("%w: two operations for %s", ErrInvalidResource, k)
		}
		seen[k] = true
		if p, ok := ids[rt.operationID]; ok {
			return fmt.Errorf("%w: operation id %s used by %s and %s", ErrInvalidResource, rt.operationID, p, k)
		}
		ids[rt.operationID] = k
	}
	return nil
}

// capturePath is a common.PathHandler that keeps the one handler kube-openapi
// registers, so it can be served from whatever route the API server uses.
type capturePath struct{ h http.Handler }

func (c *capturePath) Handle(_ string, h http.Handler) { c.h = h }

// ServeV2 serves GET /openapi/v2: JSON, or protobuf
// (application/com.github.proto-openapi.spec.v2@v1.0+protobuf, what kubectl
// asks for), with an ETag and gzip when accepted; 406 for other types.
func (d *Documents) ServeV2(w http.ResponseWriter, r *http.Request) {
	if !readMethod(w, r) {
		return
	}
	w.Header().Set("Cache-Control", "no-cache, private")
	d.v2h.ServeHTTP(w, r)
}

// ServeV3 serves GET /openapi/v3 (the index of documents, each with a
// serverRelativeURL carrying ?hash=<etag>) and /openapi/v3/{key} for each
// key in the index. A request with the current hash is answered with
// Cache-Control "public, immutable"; one with a stale hash is redirected to
// the current URL. Unknown keys are 404.
func (d *Documents) ServeV3(w http.ResponseWriter, r *http.Request) {
	if !readMethod(w, r) {
		return
	}
	w.Header().Set("Cache-Control", "no-cache, private")
	key := strings.Trim(strings.TrimPrefix(r.URL.Path, V3Path), "/")
	if key == "" {
		d.v3s.HandleDiscovery(w, r)
		return
	}
	if _, ok := d.v3[key]; !ok {
		http.NotFound(w, r)
		return
	}
	// handler3 reads the key from the path; hand it the canonical one.
	r2 := r.Clone(r.Context())
	r2.URL.Path = V3Path + "/" + key
	r2.URL.RawPath = ""
	d.v3s.HandleGroupVersion(w, r2)
}

func readMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// V3Keys returns the keys of the v3 index, sorted ("api", "api/v1",
// "apis", "apis/apps", "apis/apps/v1", ..., "version").
func (d *Documents) V3Keys() []string {
	keys := make([]string, 0, len(d.v3))
	for k := range d.v3 {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Schemas returns the OpenAPI v3 schemas of every generated model, keyed by
// definition name (io.k8s.api.apps.v1.Deployment), with x-kubernetes
// extensions: what k8s.io/apimachinery's managedfields.NewTypeConverter
// needs for field ownership and server-side apply.
func Schemas() (map[string]*spec.Schema, error) {
	defs, err := newDefinitions()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(defs.known))
	for name := range defs.known {
		names = append(names, name)
	}
	sort.Strings(names)
	return defs.buildV3(names)
}
