package apiserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/api/scheme"
)

// do sends a request with the admin token and returns the status code and
// body.
func do(t *testing.T, client *http.Client, method, url, token, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

const validDeployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}`

func protobufDeployment(t *testing.T) []byte {
	t.Helper()
	var d appsv1.Deployment
	if err := json.Unmarshal([]byte(validDeployment), &d); err != nil {
		t.Fatal(err)
	}
	d.Name = "from-protobuf"
	d.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))
	var buf bytes.Buffer
	if err := scheme.Protobuf.Encode(&d, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBadInputIsRejectedAndStoresNothing sends each kind of bad request of
// issue 3 and checks its status and reason, that nothing was stored, and
// that the server keeps serving.
func TestBadInputIsRejectedAndStoresNothing(t *testing.T) {
	url, client, token := serve(t)
	deployments := url + "/apis/apps/v1/namespaces/default/deployments"
	huge := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"x":"` + strings.Repeat("a", 4<<20) + `"}}`
	for _, tc := range []struct {
		name, method, url, contentType, body string
		code                                 int
		want                                 string
	}{
		{"malformed json", "POST", deployments, "application/json", `{"apiVersion":"apps/v1","kind":"Deployment",`, 400, "cannot be handled as a Deployment"},
		{"malformed yaml", "POST", deployments, "application/yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: [\n", 400, "cannot be handled as a Deployment"},
		{"malformed protobuf", "POST", deployments, "application/vnd.kubernetes.protobuf", "k8s\x00\x0a\x0b garbage", 400, "cannot be handled as a Deployment"},
		{"unknown field, strict", "POST", deployments + "?fieldValidation=Strict", "application/json",
			strings.Replace(validDeployment, `"selector"`, `"replicaz":3,"selector"`, 1), 400, `unknown field \"spec.replicaz\"`},
		{"duplicate field, strict", "POST", deployments + "?fieldValidation=Strict", "application/json",
			strings.Replace(validDeployment, `"name":"web"`, `"name":"web","name":"web2"`, 1), 400, `duplicate field \"metadata.name\"`},
		{"invalid name", "POST", deployments, "application/json", strings.Replace(validDeployment, `"name":"web"`, `"name":"Not_A_Name"`, 1), 422, `metadata.name: Invalid value: \"Not_A_Name\"`},
		{"invalid label", "POST", deployments, "application/json", strings.Replace(validDeployment, `"metadata":{"name":"web"}`, `"metadata":{"name":"web","labels":{"bad key!":"x"}}`, 1), 422, "metadata.labels"},
		{"selector does not match template", "POST", deployments, "application/json", strings.Replace(validDeployment, `"matchLabels":{"app":"web"}`, `"matchLabels":{"app":"other"}`, 1), 422, "spec.template.metadata.labels"},
		{"body over the limit", "POST", url + "/api/v1/namespaces/default/configmaps", "application/json", huge, 413, "limit is"},
		{"kind does not match the URL", "POST", deployments, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web"}}`, 400, "does not match"},
		{"unsupported media type", "POST", deployments, "text/plain", validDeployment, 415, "unknown format"},
		{"bad fieldValidation", "POST", deployments + "?fieldValidation=Loud", "application/json", validDeployment, 400, "fieldValidation"},
		{"bad label selector", "GET", deployments + "?labelSelector=a+in+(b", "", "", 400, "unable to parse"},
		{"unknown field selector", "GET", deployments + "?fieldSelector=spec.foo%3Dbar", "", "", 400, "field label not supported"},
		{"namespace mismatch", "POST", deployments, "application/json", strings.Replace(validDeployment, `"name":"web"`, `"name":"web","namespace":"kube-system"`, 1), 400, "does not match the namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, client, tc.method, tc.url, token, tc.contentType, []byte(tc.body))
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want %d with %q", code, body, tc.code, tc.want)
			}
			var st metav1.Status
			if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" || int(st.Code) != tc.code {
				t.Errorf("body is not a Status with code %d: %v %s", tc.code, err, body)
			}
		})
	}
	// Nothing was stored.
	for _, path := range []string{"/apis/apps/v1/deployments", "/api/v1/configmaps"} {
		code, body := get(t, client, url+path, token)
		var list struct{ Items []json.RawMessage }
		if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Items) != 0 {
			t.Errorf("GET %s after bad requests: %d, %d items, want 200 and none: %s", path, code, len(list.Items), body)
		}
	}

	// The server still serves: a good create, then a stale update is a 409.
	code, body := do(t, client, "POST", deployments, token, "application/json", []byte(validDeployment))
	if code != 201 {
		t.Fatalf("good create: %d %s", code, body)
	}
	var d appsv1.Deployment
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	staleRV := d.ResourceVersion
	d.Labels = map[string]string{"v": "2"}
	b, _ := json.Marshal(&d)
	if code, body := do(t, client, "PUT", deployments+"/web", token, "application/json", b); code != 200 {
		t.Fatalf("update: %d %s", code, body)
	}
	d.ResourceVersion = staleRV
	d.Labels = map[string]string{"v": "3"}
	b, _ = json.Marshal(&d)
	if code, body := do(t, client, "PUT", deployments+"/web", token, "application/json", b); code != 409 || !strings.Contains(body, "the object has been modified") {
		t.Errorf("stale update: %d %s, want 409", code, body)
	}
	code, body = get(t, client, deployments+"/web", token)
	if code != 200 || !strings.Contains(body, `"v":"2"`) {
		t.Errorf("after the stale update: %d %s, want the labels of the good update", code, body)
	}
	// Protobuf bodies (what kubectl 1.32+ sends) are accepted.
	if code, body := do(t, client, "POST", deployments, token, "application/vnd.kubernetes.protobuf", protobufDeployment(t)); code != 201 || !strings.Contains(body, `"from-protobuf"`) {
		t.Errorf("protobuf create: %d %s", code, body)
	}
	// An unknown field under the default (Warn) is a warning, not an error.
	req, _ := http.NewRequestWithContext(t.Context(), "POST", url+"/api/v1/namespaces/default/configmaps", strings.NewReader(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warned"},"dataz":{}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || !strings.Contains(resp.Header.Get("Warning"), `unknown field \"dataz\"`) {
		t.Errorf("unknown field under Warn: %d, Warning %q", resp.StatusCode, resp.Header.Get("Warning"))
	}
	_ = corev1.ConfigMap{}
}
