package openapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func get(t *testing.T, h http.HandlerFunc, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServeV2(t *testing.T) {
	d := newDocs(t)

	resp := get(t, d.ServeV2, "/openapi/v2", "Accept", "application/json")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET json: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var sw spec.Swagger
	if err := json.Unmarshal(body(t, resp), &sw); err != nil {
		t.Fatalf("decode v2 JSON: %v", err)
	}
	if sw.Swagger != "2.0" || sw.Definitions["io.k8s.api.apps.v1.Deployment"].Description == "" {
		t.Errorf("v2 document: swagger=%q, Deployment definition missing", sw.Swagger)
	}
	etag := resp.Header.Get("Etag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if r := get(t, d.ServeV2, "/openapi/v2", "Accept", "application/json", "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", r.StatusCode)
	}

	resp = get(t, d.ServeV2, "/openapi/v2", "Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "protobuf") {
		t.Fatalf("GET protobuf: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc openapi_v2.Document
	if err := proto.Unmarshal(body(t, resp), &doc); err != nil {
		t.Fatalf("decode v2 protobuf: %v", err)
	}
	if doc.GetSwagger() != "2.0" || len(doc.GetDefinitions().GetAdditionalProperties()) != len(sw.Definitions) {
		t.Errorf("protobuf document differs from JSON: %d vs %d definitions", len(doc.GetDefinitions().GetAdditionalProperties()), len(sw.Definitions))
	}

	if r := get(t, d.ServeV2, "/openapi/v2", "Accept", "text/html"); r.StatusCode != http.StatusNotAcceptable {
		t.Errorf("Accept text/html: status %d, want 406", r.StatusCode)
	}
	rec := httptest.NewRecorder()
	d.ServeV2(rec, httptest.NewRequest(http.MethodPost, "/openapi/v2", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", rec.Code)
	}
}

func TestServeV3(t *testing.T) {
	d := newDocs(t)

	resp := get(t, d.ServeV3, "/openapi/v3")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("index: status %d", resp.StatusCode)
	}
	var index handler3.OpenAPIV3Discovery
	if err := json.Unmarshal(body(t, resp), &index); err != nil {
		t.Fatalf("decode index: %v", err)
	}
	wantKeys := []string{"api", "api/v1", "apis", "apis/apps", "apis/apps/v1", "apis/coordination.k8s.io/v1",
		"apis/discovery.k8s.io/v1", "apis/events.k8s.io/v1", "version"}
	urlRE := regexp.MustCompile(`^/openapi/v3/[a-z0-9./]+\?hash=[0-9A-F]{128}$`)
	for _, k := range wantKeys {
		gv, ok := index.Paths[k]
		if !ok {
			t.Errorf("index lacks %q", k)
			continue
		}
		if !urlRE.MatchString(gv.ServerRelativeURL) {
			t.Errorf("index[%q] = %q", k, gv.ServerRelativeURL)
		}
	}
	if len(index.Paths) != len(d.V3Keys()) {
		t.Errorf("index has %d keys, documents %d", len(index.Paths), len(d.V3Keys()))
	}

	url := index.Paths["apis/apps/v1"].ServerRelativeURL
	resp = get(t, d.ServeV3, url, "Accept", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, immutable" {
		t.Errorf("hashed GET Cache-Control = %q", cc)
	}
	var doc spec3.OpenAPI
	if err := json.Unmarshal(body(t, resp), &doc); err != nil {
		t.Fatalf("decode apps/v1: %v", err)
	}
	if doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"] == nil {
		t.Error("apps/v1 document lacks the deployment path")
	}
	if strings.TrimPrefix(url, "/openapi/v3/apis/apps/v1?hash=") != strings.Trim(resp.Header.Get("Etag"), `"`) {
		t.Errorf("hash in URL %s is not the ETag %s", url, resp.Header.Get("Etag"))
	}

	tests := []struct {
		name, target string
		want         int
		cacheControl string
	}{
		{"unhashed", "/openapi/v3/api/v1", http.StatusOK, "no-cache, private"},
		{"trailing slash", "/openapi/v3/api/v1/", http.StatusOK, "no-cache, private"},
		{"stale hash", "/openapi/v3/api/v1?hash=ABC", http.StatusMovedPermanently, "no-cache, private"},
		{"unknown", "/openapi/v3/apis/batch/v1", http.StatusNotFound, "no-cache, private"},
		{"discovery doc", "/openapi/v3/version", http.StatusOK, "no-cache, private"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, d.ServeV3, tc.target)
			if r.StatusCode != tc.want {
				t.Errorf("status %d, want %d", r.StatusCode, tc.want)
			}
			if cc := r.Header.Get("Cache-Control"); cc != tc.cacheControl {
				t.Errorf("Cache-Control %q, want %q", cc, tc.cacheControl)
			}
			if tc.want == http.StatusMovedPermanently && r.Header.Get("Location") != index.Paths["api/v1"].ServerRelativeURL {
				t.Errorf("redirect to %q, want %q", r.Header.Get("Location"), index.Paths["api/v1"].ServerRelativeURL)
			}
		})
	}

	resp = get(t, d.ServeV3, "/openapi/v3/api/v1", "Accept", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "protobuf") || len(body(t, resp)) == 0 {
		t.Errorf("v3 protobuf: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestOperations checks operation ids, actions and kinds against the names
// kube-apiserver gives the same operations.
func TestOperations(t *testing.T) {
	d := newDocs(t)
	tests := []struct {
		path, method, id, action, kind string
	}{
		{"/api/v1/namespaces/{namespace}/pods", "get", "listCoreV1NamespacedPod", "list", "/v1/Pod"},
		{"/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", "list", "/v1/Pod"},
		{"/api/v1/namespaces/{namespace}/pods", "post", "createCoreV1NamespacedPod", "post", "/v1/Pod"},
		{"/api/v1/namespaces/{namespace}/pods", "delete", "deleteCoreV1CollectionNamespacedPod", "deletecollection", "/v1/Pod"},
		{"/api/v1/namespaces/{namespace}/pods/{name}", "get", "readCoreV1NamespacedPod", "get", "/v1/Pod"},
		{"/api/v1/namespaces/{namespace}/pods/{name}", "put", "replaceCoreV1NamespacedPod", "put", "/v1/Pod"},
		{"/api/v1/namespaces/{namespace}/pods/{name}", "delete", "deleteCoreV1NamespacedPod", "delete", "/v1/Pod"},
		{"/api/v1/namespaces/{namespace}/pods/{name}/binding", "post", "createCoreV1NamespacedPodBinding", "post", "/v1/Binding"},
		{"/api/v1/namespaces/{namespace}/pods/{name}/log", "get", "readCoreV1NamespacedPodLog", "get", "/v1/Pod"},
		{"/api/v1/namespaces/{namespace}/pods/{name}/exec", "post", "connectCoreV1PostNamespacedPodExec", "connect", "/v1/Pod"},
		{"/api/v1/nodes", "get", "listCoreV1Node", "list", "/v1/Node"},
		{"/api/v1/nodes/{name}/status", "patch", "patchCoreV1NodeStatus", "patch", "/v1/Node"},
		{"/api/v1/namespaces/{name}", "patch", "patchCoreV1Namespace", "patch", "/v1/Namespace"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch", "patchAppsV1NamespacedDeployment", "patch", "apps/v1/Deployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status", "get", "readAppsV1NamespacedDeploymentStatus", "get", "apps/v1/Deployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "put", "replaceAppsV1NamespacedDeploymentScale", "put", "autoscaling/v1/Scale"},
		{"/apis/apps/v1/deployments", "get", "listAppsV1DeploymentForAllNamespaces", "list", "apps/v1/Deployment"},
		{"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices", "post", "createDiscoveryV1NamespacedEndpointSlice", "post", "discovery.k8s.io/v1/EndpointSlice"},
		{"/apis/events.k8s.io/v1/namespaces/{namespace}/events/{name}", "get", "readEventsV1NamespacedEvent", "get", "events.k8s.io/v1/Event"},
		{"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}", "put", "replaceCoordinationV1NamespacedLease", "put", "coordination.k8s.io/v1/Lease"},
		{"/apis/apps/v1/", "get", "getAppsV1APIResources", "", ""},
		{"/apis/apps/", "get", "getAppsAPIGroup", "", ""},
		{"/api/", "get", "getCoreAPIVersions", "", ""},
		{"/version/", "get", "getCodeVersion", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			item, ok := d.swagger.Paths.Paths[tc.path]
			if !ok {
				t.Fatalf("no v2 path %s", tc.path)
			}
			op := v2Op(item, tc.method)
			if op == nil {
				t.Fatalf("no %s on %s", tc.method, tc.path)
			}
			if op.ID != tc.id {
				t.Errorf("operationId %q, want %q", op.ID, tc.id)
			}
			action, _ := op.Extensions.GetString(extensionAction)
			if action != tc.action {
				t.Errorf("x-kubernetes-action %q, want %q", action, tc.action)
			}
			if kind := gvkString(op.Extensions[extensionGVK]); kind != tc.kind {
				t.Errorf("x-kubernetes-group-version-kind %q, want %q", kind, tc.kind)
			}
			v3 := d.v3[docKey(tc.path)]
			if v3 == nil || v3.Paths.Paths[tc.path] == nil || v3Op(v3.Paths.Paths[tc.path], tc.method).OperationId != tc.id {
				t.Errorf("v3 document %s lacks %s %s", docKey(tc.path), tc.method, tc.id)
			}
		})
	}
}

func gvkString(v interface{}) string {
	m, ok := v.(map[string]interface{})
	if !ok {
		return ""
	}
	return m["group"].(string) + "/" + m["version"].(string) + "/" + m["kind"].(string)
}

func v2Op(item spec.PathItem, method string) *spec.Operation {
	return map[string]*spec.Operation{"get": item.Get, "put": item.Put, "post": item.Post, "patch": item.Patch, "delete": item.Delete}[method]
}

func v3Op(item *spec3.Path, method string) *spec3.Operation {
	op := map[string]*spec3.Operation{"get": item.Get, "put": item.Put, "post": item.Post, "patch": item.Patch, "delete": item.Delete}[method]
	if op == nil {
		return &spec3.Operation{}
	}
	return op
}

// TestWriteOperations checks every write operation of every document: the
// query parameters kubectl relies on, the patch content types, and kinds.
func TestWriteOperations(t *testing.T) {
	d := newDocs(t)
	patches := 0
	for key, doc := range d.v3 {
		for path, item := range doc.Paths.Paths {
			for method, op := range map[string]*spec3.Operation{"post": item.Post, "put": item.Put, "patch": item.Patch} {
				if op == nil || op.Extensions[extensionAction] == "connect" {
					continue
				}
				names := map[string]bool{}
				for _, p := range append(op.Parameters, item.Parameters...) {
					if p.In == "query" {
						names[p.Name] = true
					}
				}
				for _, want := range []string{"dryRun", "fieldManager", "fieldValidation"} {
					if !names[want] {
						t.Errorf("%s: %s %s lacks query parameter %s", key, method, path, want)
					}
				}
				if op.Extensions[extensionGVK] == nil {
					t.Errorf("%s: %s %s lacks %s", key, method, path, extensionGVK)
				}
				if method != "patch" {
					continue
				}
				patches++
				if !names["force"] {
					t.Errorf("%s: PATCH %s lacks force", key, path)
				}
				for _, ct := range patchMediaTypes {
					if op.RequestBody == nil || op.RequestBody.Content[ct] == nil {
						t.Errorf("%s: PATCH %s does not accept %s", key, path, ct)
					}
				}
			}
		}
	}
	if patches < 20 {
		t.Errorf("only %d PATCH operations checked", patches)
	}
}

var refRE = regexp.MustCompile(`"\$ref":"([^"]*)"`)

// TestReferencesResolve checks that every $ref of every document names a
// definition of the same document, and that definition names are
// kube-apiserver's.
func TestReferencesResolve(t *testing.T) {
	d := newDocs(t)
	check := func(name string, raw []byte, prefix string, defined func(string) bool) {
		refs := refRE.FindAllSubmatch(raw, -1)
		if len(refs) == 0 {
			t.Errorf("%s: no references at all", name)
		}
		for _, m := range refs {
			ref := string(m[1])
			if !strings.HasPrefix(ref, prefix) || !defined(strings.TrimPrefix(ref, prefix)) {
				t.Errorf("%s: dangling reference %s", name, ref)
			}
		}
	}
	raw, err := json.Marshal(d.swagger)
	if err != nil {
		t.Fatal(err)
	}
	check("v2", raw, "#/definitions/", func(n string) bool { _, ok := d.swagger.Definitions[n]; return ok })
	for name := range d.swagger.Definitions {
		if !strings.HasPrefix(name, "io.k8s.") || strings.Contains(name, "/") {
			t.Errorf("definition name %q is not REST-friendly", name)
		}
	}
	for key, doc := range d.v3 {
		raw, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		check(key, raw, "#/components/schemas/", func(n string) bool { return doc.Components.Schemas[n] != nil })
	}
	for _, want := range alwaysModels {
		if d.v3["apis/apps/v1"].Components.Schemas[want] == nil {
			t.Errorf("apps/v1 document lacks %s", want)
		}
	}
}

// TestDefinitionExtensions checks the extensions generated from the types'
// tags and the GVKs added by the namer.
func TestDefinitionExtensions(t *testing.T) {
	d := newDocs(t)
	defs := d.swagger.Definitions
	tests := []struct {
		model, field, ext string
		want              interface{}
	}{
		{"io.k8s.api.core.v1.PodSpec", "containers", "x-kubernetes-patch-strategy", "merge"},
		{"io.k8s.api.core.v1.PodSpec", "containers", "x-kubernetes-patch-merge-key", "name"},
		{"io.k8s.api.core.v1.PodSpec", "containers", "x-kubernetes-list-type", "map"},
		{"io.k8s.api.core.v1.Container", "ports", "x-kubernetes-list-map-keys", []interface{}{"containerPort", "protocol"}},
		{"io.k8s.api.core.v1.Container", "env", "x-kubernetes-patch-merge-key", "name"},
		{"io.k8s.api.apps.v1.DeploymentStrategy", "rollingUpdate", "", nil},
		{"io.k8s.api.apps.v1.DeploymentStatus", "conditions", "x-kubernetes-patch-merge-key", "type"},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", "x-kubernetes-patch-strategy", "merge"},
	}
	for _, tc := range tests {
		def, ok := defs[tc.model]
		if !ok {
			t.Errorf("no definition %s", tc.model)
			continue
		}
		prop, ok := def.Properties[tc.field]
		if !ok {
			t.Errorf("%s has no property %s", tc.model, tc.field)
			continue
		}
		if tc.ext == "" {
			continue
		}
		got, _ := json.Marshal(prop.Extensions[tc.ext])
		want, _ := json.Marshal(tc.want)
		if string(got) != string(want) {
			t.Errorf("%s.%s %s = %s, want %s", tc.model, tc.field, tc.ext, got, want)
		}
	}

	for model, want := range map[string]string{
		"io.k8s.api.apps.v1.Deployment":               `[{"group":"apps","kind":"Deployment","version":"v1"}]`,
		"io.k8s.api.core.v1.Pod":                      `[{"group":"","kind":"Pod","version":"v1"}]`,
		"io.k8s.api.autoscaling.v1.Scale":             `[{"group":"autoscaling","kind":"Scale","version":"v1"}]`,
		"io.k8s.apimachinery.pkg.apis.meta.v1.Status": `[{"group":"","kind":"Status","version":"v1"}]`,
	} {
		got, _ := json.Marshal(defs[model].Extensions[extensionGVK])
		if string(got) != want {
			t.Errorf("%s %s = %s, want %s", model, extensionGVK, got, want)
		}
	}
	if _, ok := defs["io.k8s.api.apps.v1.DeploymentSpec"].Extensions[extensionGVK]; ok {
		t.Error("DeploymentSpec, not a kind, has a GVK")
	}
	if !strings.Contains(defs["io.k8s.api.apps.v1.DeploymentSpec"].Properties["replicas"].Description, "Number of desired pods") {
		t.Error("DeploymentSpec.replicas lacks its doc comment")
	}
	if _, ok := defs["io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"]; !ok {
		t.Error("v2 document lacks WatchEvent")
	}
}

// TestGeneratedCoversScheme checks that the generated file (and so the
// go:generate package list) covers every kind of the served groups.
func TestGeneratedCoversScheme(t *testing.T) {
	defs, err := newDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	for gvk := range defs.scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal {
			continue
		}
		if _, err := defs.modelName(gvk); err != nil {
			t.Errorf("%v: %v", gvk, err)
		}
	}
}

func TestNewRejects(t *testing.T) {
	ok := Resource{Group: "apps", Version: "v1", Kind: "Deployment", Resource: "deployments", Namespaced: true, Verbs: []string{"get"}}
	tests := []struct {
		name      string
		resources []Resource
		invalid   bool // wraps ErrInvalidResource
	}{
		{"missing kind", []Resource{{Version: "v1", Resource: "pods"}}, true},
		{"unknown verb", []Resource{{Version: "v1", Kind: "Pod", Resource: "pods", Verbs: []string{"frobnicate"}}}, true},
		{"slash in resource", []Resource{{Version: "v1", Kind: "Pod", Resource: "pods/status"}}, true},
		{"listed twice", []Resource{ok, ok}, true},
		{"duplicate subresource", []Resource{{Version: "v1", Kind: "Pod", Resource: "pods",
			Subresources: []Subresource{{Name: "status", Kind: "Pod"}, {Name: "status", Kind: "Pod"}}}}, true},
		{"same plural twice under another kind", []Resource{ok, {Group: "apps", Version: "v1", Kind: "ReplicaSet", Resource: "deployments", Namespaced: true, Verbs: []string{"get"}}}, true},
		{"group not generated", []Resource{{Group: "batch", Version: "v1", Kind: "Job", Resource: "jobs", Verbs: []string{"get"}}}, false},
		{"kind not generated", []Resource{{Version: "v1", Kind: "Pod", Resource: "pods",
			Subresources: []Subresource{{Name: "eviction", Group: "policy", Version: "v1", Kind: "Eviction", Verbs: []string{"create"}}}}}, false},
		{"list kind missing", []Resource{{Version: "v1", Kind: "Binding", Resource: "bindings", Verbs: []string{"list"}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.resources)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if errors.Is(err, ErrInvalidResource) != tc.invalid {
				t.Errorf("errors.Is(%v, ErrInvalidResource) = %v, want %v", err, !tc.invalid, tc.invalid)
			}
		})
	}
}

func TestNewEmpty(t *testing.T) {
	d, err := New(nil)
	if err != nil {
		t.Fatalf("New(nil): %v", err)
	}
	keys := strings.Join(d.V3Keys(), " ")
	if keys != "apis version" {
		t.Errorf("v3 keys of an empty API = %q, want %q", keys, "apis version")
	}
}
