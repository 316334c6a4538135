package apiserver_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/control/resources"
)

// TestSkiffGroupDiscovery: client-go discovery (as kubectl api-resources and
// kubectl get use it) finds skiff.dev/v1alpha1 and its two resources, and
// the OpenAPI documents still build without schemas for them.
func TestSkiffGroupDiscovery(t *testing.T) {
	url, client, token := serve(t)
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: url, BearerToken: token, Transport: client.Transport})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := dc.ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range groups.Groups {
		if g.Name == "skiff.dev" {
			found = g.PreferredVersion.GroupVersion == "skiff.dev/v1alpha1"
		}
	}
	if !found {
		t.Fatalf("skiff.dev/v1alpha1 not among the groups: %+v", groups.Groups)
	}
	list, err := dc.ServerResourcesForGroupVersion("skiff.dev/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range list.APIResources {
		names = append(names, r.Name+"/"+r.Kind)
		if r.Namespaced {
			t.Errorf("%s is namespaced, want cluster-scoped", r.Name)
		}
	}
	want := []string{"policymodules/PolicyModule", "schedulingpolicies/SchedulingPolicy", "schedulingpolicies/status/SchedulingPolicy"}
	if !slices.Equal(names, want) {
		t.Errorf("resources = %v, want %v", names, want)
	}
	// The OpenAPI document builds with the group left out (it has no schemas).
	if code, body := get(t, client, url+"/openapi/v2", token); code != http.StatusOK || !strings.Contains(body, `"swagger":"2.0"`) || strings.Contains(body, "skiff.dev") {
		t.Errorf("GET /openapi/v2 = %d: %.200s", code, body)
	}
}

// TestSkiffGroupWire: lists are JSON even for clients preferring protobuf
// (the group has none), and a module upload has its own body limit.
func TestSkiffGroupWire(t *testing.T) {
	url, client, token := serve(t)
	do := func(method, path, accept string, body []byte) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp, b.String()
	}
	resp, body := do(http.MethodGet, "/apis/skiff.dev/v1alpha1/schedulingpolicies", "application/vnd.kubernetes.protobuf, application/json", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body, `"kind":"SchedulingPolicyList"`) {
		t.Errorf("list = %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// A body past the module limit is a 413; one past the default limit but
	// under the module limit reaches validation (422: not wasm).
	for _, tc := range []struct {
		size int
		code int
	}{{resources.MaxModuleBodyBytes + 1, http.StatusRequestEntityTooLarge}, {4 << 20, http.StatusUnprocessableEntity}} {
		wasm := strings.Repeat("A", tc.size-100)
		doc := []byte(`{"apiVersion":"skiff.dev/v1alpha1","kind":"PolicyModule","metadata":{"name":"x"},"spec":{"wasm":"` + wasm + `"}}`)
		resp, body := do(http.MethodPost, "/apis/skiff.dev/v1alpha1/policymodules", "", doc)
		if resp.StatusCode != tc.code {
			t.Errorf("POST of %d bytes = %d, want %d: %.300s", len(doc), resp.StatusCode, tc.code, body)
		}
	}
}
