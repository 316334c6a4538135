package site

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
	"github.com/skiff-sh/skiff/wasm/snapshot"
)

const testToken = "Bearer good"

// fakeAPI serves nodes, pods (in pages of limit) and one PolicyModule to
// the good token, 401 to anything else, and counts the calls.
type fakeAPI struct {
	nodes []corev1.Node
	pods  []corev1.Pod
	calls []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls = append(f.calls, r.URL.RequestURI())
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != testToken {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"kind":"Status","code":401,"reason":"Unauthorized","message":"Unauthorized"}`)
		return
	}
	page := func(items any, n int) {
		// One item per page when limit is 1, else all: enough to check paging.
		cont := ""
		if r.URL.Query().Get("continue") == "" && n > 1 && r.URL.Query().Get("limit") == "1" {
			cont = "next"
		}
		json.NewEncoder(w).Encode(map[string]any{"metadata": map[string]any{"continue": cont}, "items": items})
	}
	switch {
	case r.URL.Path == "/api/v1/nodes":
		page(f.nodes, len(f.nodes))
	case r.URL.Path == "/api/v1/pods" && r.URL.Query().Get("continue") == "":
		json.NewEncoder(w).Encode(map[string]any{"metadata": map[string]any{"continue": "page2"}, "items": f.pods[:1]})
	case r.URL.Path == "/api/v1/pods":
		json.NewEncoder(w).Encode(map[string]any{"metadata": map[string]any{}, "items": f.pods[1:]})
	case strings.HasPrefix(r.URL.Path, "/apis/skiff.dev/v1alpha1/policymodules/sha256-"):
		json.NewEncoder(w).Encode(skiffv1alpha1.PolicyModule{ObjectMeta: metav1.ObjectMeta{Name: strings.TrimPrefix(r.URL.Path, "/apis/skiff.dev/v1alpha1/policymodules/")}})
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"kind":"Status","code":404,"message":"not found"}`)
	}
}

func testNode(name, cpu string) corev1.Node {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("10")}
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}},
		Status: corev1.NodeStatus{Allocatable: alloc, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func testPod(name, nodeName, cpu string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{NodeName: nodeName, SchedulerName: "nobody", Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}}}
}

func newTestSite(t *testing.T, api http.Handler, read func(context.Context, string) ([]byte, error)) *httptest.Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.ReadModule = read
	h, err := New(cfg, api)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, srv *httptest.Server, method, path, auth string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestSnapshotEndpoint(t *testing.T) {
	api := &fakeAPI{
		nodes: []corev1.Node{testNode("b", "2"), testNode("a", "4")},
		pods:  []corev1.Pod{testPod("bound", "a", "1"), testPod("p1", "", "500m"), testPod("p2", "", "3")},
	}
	srv := newTestSite(t, api, nil)

	code, body := do(t, srv, "GET", "/ui/api/snapshot", "", nil)
	if code != http.StatusUnauthorized || !strings.Contains(string(body), "Unauthorized") {
		t.Fatalf("without a token: %d %s, want the API's 401", code, body)
	}
	code, body = do(t, srv, "GET", "/ui/api/snapshot", testToken, nil)
	if code != http.StatusOK {
		t.Fatalf("snapshot: %d %s", code, body)
	}
	s, err := snapshot.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the answer is not a valid snapshot: %v\n%s", err, body)
	}
	var names []string
	for _, n := range s.Nodes {
		names = append(names, n.Name)
		if n.ManagedFields != nil {
			t.Errorf("node %s keeps managedFields", n.Name)
		}
	}
	if strings.Join(names, ",") != "a,b" || len(s.Bound) != 1 || len(s.Pending) != 2 {
		t.Fatalf("snapshot nodes %v, %d bound, %d pending; want a,b, 1, 2 (both pages of pods)", names, len(s.Bound), len(s.Pending))
	}
	if !strings.Contains(s.Source, "127.0.0.1") {
		t.Errorf("source %q, want the server's host", s.Source)
	}
}

func TestModuleEndpoint(t *testing.T) {
	wasm := builtintest.Scheduler(t)
	uploaded := []byte("\x00asm-uploaded")
	digest := skiffv1alpha1.Digest(uploaded)
	read := func(_ context.Context, d string) ([]byte, error) {
		if d == digest {
			return uploaded, nil
		}
		return nil, errors.New("not stored")
	}
	srv := newTestSite(t, &fakeAPI{}, read)
	bare := newTestSite(t, &fakeAPI{}, nil)
	tests := []struct {
		name, path, auth string
		srv              *httptest.Server
		code             int
		body             []byte
	}{
		{"builtin needs a token", "/ui/api/modules/builtin-scheduler.wasm", "", srv, http.StatusUnauthorized, nil},
		{"uploaded by name", "/ui/api/modules/" + skiffv1alpha1.ObjectName(digest), testToken, srv, http.StatusOK, uploaded},
		{"uploaded without a reader", "/ui/api/modules/" + skiffv1alpha1.ObjectName(digest), testToken, bare, http.StatusNotImplemented, nil},
		{"not a digest", "/ui/api/modules/whatever", testToken, srv, http.StatusBadRequest, nil},
	}
	if _, err := builtinBytes(); err == nil {
		tests = append(tests, struct {
			name, path, auth string
			srv              *httptest.Server
			code             int
			body             []byte
		}{"builtin", "/ui/api/modules/builtin-scheduler.wasm", testToken, srv, http.StatusOK, wasm})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, tc.srv, "GET", tc.path, tc.auth, nil)
			if code != tc.code {
				t.Fatalf("%d %s, want %d", code, body, tc.code)
			}
			if tc.body != nil && !bytes.Equal(body, tc.body) {
				t.Fatalf("%d bytes, want the module's %d", len(body), len(tc.body))
			}
		})
	}
}

func TestDecideEndpoint(t *testing.T) {
	s := snapshot.FromObjects(
		[]corev1.Node{testNode("small", "1"), testNode("large", "4")},
		[]corev1.Pod{testPod("p1", "", "500m"), testPod("p2", "", "3"), testPod("p3", "", "8")}, metav1.Now().Time, "test")
	var doc bytes.Buffer
	if err := s.Encode(&doc); err != nil {
		t.Fatal(err)
	}
	wasm := builtintest.Scheduler(t) // the embedded module or a build of its source
	srv := newTestSite(t, &fakeAPI{}, nil)
	req, _ := json.Marshal(DecideRequest{Snapshot: doc.Bytes(), Wasm: wasm})

	code, body := do(t, srv, "POST", "/ui/api/decide", "", req)
	if code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d %s, want 401", code, body)
	}
	code, body = do(t, srv, "POST", "/ui/api/decide", testToken, req)
	if code != http.StatusOK {
		t.Fatalf("decide: %d %s", code, body)
	}
	var res DecideResponse
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Hooks.Filter || !res.Hooks.Score || strings.Join(res.Nodes, ",") != "large,small" || len(res.Decisions) != 3 {
		t.Fatalf("decide answered %s", body)
	}
	got := map[string]string{}
	for _, d := range res.Decisions {
		got[d.Pod] = d.Node
		if len(d.Verdicts) != 2 || len(d.Scores) != 2 {
			t.Errorf("pod %s: %d verdicts %d scores, want one per node", d.Pod, len(d.Verdicts), len(d.Scores))
		}
	}
	// p1 (500m) goes to the emptier node, p2 (3 CPUs) only fits the large
	// one, p3 (8 CPUs) fits nowhere, with insufficient cpu on both nodes.
	if got["default/p2"] != "large" || got["default/p3"] != "" || got["default/p1"] == "" {
		t.Fatalf("placements %v", got)
	}
	for _, v := range res.Decisions[2].Verdicts {
		if v.Verdict == 1 || v.Reasons&1 == 0 {
			t.Errorf("p3: verdict %+v, want unschedulable for insufficient cpu", v)
		}
	}

	bad := []struct {
		name string
		body string
		code int
	}{
		{"garbage", `{`, http.StatusBadRequest},
		{"bad snapshot", `{"snapshot":{"version":1,"nodes":[]},"module":"builtin"}`, http.StatusBadRequest},
		{"not wasm", `{"snapshot":` + doc.String() + `,"wasm":"AAAA"}`, http.StatusUnprocessableEntity},
		{"unknown module", `{"snapshot":` + doc.String() + `,"module":"nope"}`, http.StatusBadRequest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := do(t, srv, "POST", "/ui/api/decide", testToken, []byte(tc.body)); code != tc.code {
				t.Fatalf("%d %s, want %d", code, body, tc.code)
			}
		})
	}
}
