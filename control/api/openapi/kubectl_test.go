package openapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kubectl/pkg/explain"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"
)

var (
	deploymentGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	deploymentGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// served starts a server that serves the documents the way the API server
// mounts them, and returns a client-go config for it.
func served(t *testing.T) *rest.Config {
	t.Helper()
	d := newDocs(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/openapi/v2", d.ServeV2)
	mux.HandleFunc("/openapi/v3", d.ServeV3)
	mux.HandleFunc("/openapi/v3/", d.ServeV3)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func discoveryClient(t *testing.T) *discovery.DiscoveryClient {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(served(t))
	if err != nil {
		t.Fatalf("discovery client: %v", err)
	}
	return dc
}

// TestKubectlV2 drives kubectl's v2 machinery (which fetches the document as
// protobuf) against the served document.
func TestKubectlV2(t *testing.T) {
	dc := discoveryClient(t)
	resources, err := kubectlopenapi.NewOpenAPIParser(dc).Parse()
	if err != nil {
		t.Fatalf("parse v2 document: %v", err)
	}

	t.Run("lookup resources by GVK", func(t *testing.T) {
		for _, tc := range []struct {
			gvk  schema.GroupVersionKind
			name string
		}{
			{deploymentGVK, "io.k8s.api.apps.v1.Deployment"},
			{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "io.k8s.api.core.v1.Pod"},
			{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "io.k8s.api.core.v1.Namespace"},
			{schema.GroupVersionKind{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice"}, "io.k8s.api.discovery.v1.EndpointSlice"},
			{schema.GroupVersionKind{Group: "events.k8s.io", Version: "v1", Kind: "Event"}, "io.k8s.api.events.v1.Event"},
			{schema.GroupVersionKind{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"}, "io.k8s.api.coordination.v1.Lease"},
			{schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, "io.k8s.api.autoscaling.v1.Scale"},
		} {
			s := resources.LookupResource(tc.gvk)
			if s == nil {
				t.Errorf("LookupResource(%v) = nil", tc.gvk)
				continue
			}
			if got := s.GetPath().String(); got != tc.name {
				t.Errorf("LookupResource(%v) path = %q, want %q", tc.gvk, got, tc.name)
			}
		}
	})

	t.Run("explain deployment.spec", func(t *testing.T) {
		var out bytes.Buffer
		err := explain.PrintModelDescription([]string{"spec"}, &out, resources.LookupResource(deploymentGVK), deploymentGVK, false, 0)
		if err != nil {
			t.Fatalf("explain: %v", err)
		}
		for _, want := range []string{"DeploymentSpec is the specification of the desired behavior", "replicas", "strategy"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("explain deployment.spec lacks %q:\n%s", want, out.String())
			}
		}
	})

	t.Run("patch consumes", func(t *testing.T) {
		got := resources.GetConsumes(deploymentGVK, "PATCH")
		if !slices.Contains(got, "application/strategic-merge-patch+json") || !slices.Contains(got, "application/apply-patch+yaml") {
			t.Errorf("PATCH consumes = %v", got)
		}
	})

	t.Run("containers patch strategy", func(t *testing.T) {
		models, err := proto.NewOpenAPIData(mustV2(t, dc))
		if err != nil {
			t.Fatalf("proto models: %v", err)
		}
		podSpec, ok := models.LookupModel("io.k8s.api.core.v1.PodSpec").(*proto.Kind)
		if !ok {
			t.Fatalf("PodSpec model is not a kind")
		}
		ext := podSpec.Fields["containers"].GetExtensions()
		if ext["x-kubernetes-patch-strategy"] != "merge" || ext["x-kubernetes-patch-merge-key"] != "name" {
			t.Errorf("containers extensions = %v, want merge on name", ext)
		}
	})

	t.Run("strategic merge by container name", func(t *testing.T) {
		meta := strategicpatch.NewPatchMetaFromOpenAPI(resources.LookupResource(deploymentGVK))
		original := deploymentJSON(t, corev1.Container{Name: "app", Image: "app:1"}, corev1.Container{Name: "sidecar", Image: "side:1"})
		modified := deploymentJSON(t, corev1.Container{Name: "app", Image: "app:2"}, corev1.Container{Name: "sidecar", Image: "side:1"})
		patch, err := strategicpatch.CreateThreeWayMergePatch(original, modified, original, meta, false)
		if err != nil {
			t.Fatalf("three-way patch: %v", err)
		}
		// Keyed by name: the patch names only the changed container and
		// carries a $setElementOrder directive, not a whole list.
		if !strings.Contains(string(patch), `"$setElementOrder/containers"`) || strings.Contains(string(patch), "side:1") {
			t.Errorf("patch = %s, want a merge-by-name patch", patch)
		}
		merged, err := strategicpatch.StrategicMergePatchUsingLookupPatchMeta(original, patch, meta)
		if err != nil {
			t.Fatalf("apply patch: %v", err)
		}
		var d appsv1.Deployment
		if err := json.Unmarshal(merged, &d); err != nil {
			t.Fatalf("decode merged: %v", err)
		}
		cs := d.Spec.Template.Spec.Containers
		if len(cs) != 2 || cs[0].Image != "app:2" || cs[1].Image != "side:1" {
			t.Errorf("merged containers = %+v", cs)
		}
	})

	t.Run("fieldValidation verifier", func(t *testing.T) {
		dyn, err := dynamic.NewForConfig(served(t))
		if err != nil {
			t.Fatal(err)
		}
		v := resource.NewQueryParamVerifier(dyn, dc, resource.QueryParamFieldValidation)
		for _, gvk := range []schema.GroupVersionKind{deploymentGVK, {Version: "v1", Kind: "Pod"}, {Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"}} {
			if err := v.HasSupport(gvk); err != nil {
				t.Errorf("HasSupport(%v) = %v", gvk, err)
			}
		}
	})
}

func mustV2(t *testing.T, dc *discovery.DiscoveryClient) *openapi_v2.Document {
	t.Helper()
	doc, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatalf("fetch v2: %v", err)
	}
	return doc
}

func deploymentJSON(t *testing.T, containers ...corev1.Container) []byte {
	t.Helper()
	d := appsv1.Deployment{}
	d.APIVersion, d.Kind, d.Name = "apps/v1", "Deployment", "web"
	d.Spec.Template.Spec.Containers = containers
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKubectlV3 drives client-go's and kubectl's v3 machinery against the
// served index and group-version documents.
func TestKubectlV3(t *testing.T) {
	dc := discoveryClient(t)
	client := dc.OpenAPIV3()
	paths, err := client.Paths()
	if err != nil {
		t.Fatalf("v3 index: %v", err)
	}
	for _, key := range []string{"api/v1", "apis/apps/v1", "apis/discovery.k8s.io/v1", "apis/events.k8s.io/v1", "apis/coordination.k8s.io/v1"} {
		if _, ok := paths[key]; !ok {
			t.Errorf("v3 index lacks %s (has %v)", key, keysOf(paths))
		}
	}

	t.Run("explain deployment.spec", func(t *testing.T) {
		var out bytes.Buffer
		if err := explainv2.PrintModelDescription([]string{"spec"}, &out, client, deploymentGVR, false, 0, "plaintext"); err != nil {
			t.Fatalf("explain: %v", err)
		}
		for _, want := range []string{"KIND:       Deployment", "DeploymentSpec is the specification of the desired behavior", "replicas"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("explain deployment.spec lacks %q:\n%s", want, out.String())
			}
		}
	})

	t.Run("explain pod containers", func(t *testing.T) {
		var out bytes.Buffer
		gvr := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
		if err := explainv2.PrintModelDescription([]string{"spec", "containers"}, &out, client, gvr, false, 0, "plaintext"); err != nil {
			t.Fatalf("explain: %v", err)
		}
		if !strings.Contains(out.String(), "List of containers belonging to the pod") {
			t.Errorf("explain pod.spec.containers:\n%s", out.String())
		}
	})

	t.Run("fieldValidation verifier", func(t *testing.T) {
		dyn, err := dynamic.NewForConfig(served(t))
		if err != nil {
			t.Fatal(err)
		}
		v := resource.NewQueryParamVerifierV3(dyn, client, resource.QueryParamFieldValidation)
		for _, gvk := range []schema.GroupVersionKind{
			deploymentGVK,
			{Version: "v1", Kind: "Pod"},
			{Version: "v1", Kind: "Namespace"},
			{Group: "apps", Version: "v1", Kind: "ReplicaSet"},
			{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice"},
			{Group: "events.k8s.io", Version: "v1", Kind: "Event"},
			{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"},
		} {
			if err := v.HasSupport(gvk); err != nil {
				t.Errorf("HasSupport(%v) = %v", gvk, err)
			}
		}
	})

	t.Run("root parses group-versions", func(t *testing.T) {
		root := openapi3.NewRoot(client)
		doc, err := root.GVSpec(schema.GroupVersion{Group: "apps", Version: "v1"})
		if err != nil {
			t.Fatalf("GVSpec: %v", err)
		}
		dep := doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]
		if dep == nil || !strings.Contains(dep.Description, "Deployment enables declarative updates") {
			t.Fatalf("Deployment schema = %+v", dep)
		}
	})

	t.Run("type converter", func(t *testing.T) {
		// Server-side apply's managed fields build their schema from the
		// v3 documents; it must accept all of them.
		tc, err := openapi.NewTypeConverter(client, false)
		if err != nil {
			t.Fatalf("NewTypeConverter: %v", err)
		}
		if _, err := tc.ObjectToTyped(&appsv1.Deployment{
			TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		}); err != nil {
			t.Errorf("ObjectToTyped(Deployment): %v", err)
		}
	})
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
