package apiserver_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

// serve starts an API server over a one-member in-process store and returns
// its URL, an HTTPS client trusting the cluster CA, and the admin token.
func serve(t *testing.T) (string, *http.Client, string) {
	t.Helper()
	url, client, token, _ := serveStore(t)
	return url, client, token
}

// serveStore is serve, also returning the store the server stands on.
func serveStore(t *testing.T) (string, *http.Client, string, *raftstore.Store) {
	t.Helper()
	c := storetest.New(t, 1, nil)
	ca, err := pki.NewCA("test-ca", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServing("test", []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	token, err := pki.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Config{
		Store: c.Nodes[0].Store(), Certificate: cert, AdminTokenHash: pki.TokenHash(token),
		SkiffVersion: "test", Registry: registry.NewRegistry(c.Nodes[0].Store(), resources.Default(c.Nodes[0].Store())), Logger: storetest.TestConfig().Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.EnsureNamespaces(t.Context()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		// t.Context is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "https://" + ln.Addr().String(), client, token, c.Nodes[0].Store()
}

func get(t *testing.T, client *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestHealthAndVersionArePublic(t *testing.T) {
	url, client, _ := serve(t)
	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		if code, body := get(t, client, url+path, ""); code != 200 || body != "ok" {
			t.Errorf("GET %s: %d %q, want 200 ok", path, code, body)
		}
	}
	code, body := get(t, client, url+"/readyz?verbose", "")
	if code != 200 || !strings.Contains(body, "[+]etcd ok") || !strings.Contains(body, "readyz check passed") {
		t.Errorf("GET /readyz?verbose: %d %q", code, body)
	}
	code, body = get(t, client, url+"/version", "")
	var v struct{ Major, Minor, GitVersion string }
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
		t.Fatalf("GET /version: %d %q", code, body)
	}
	if v.Major != "1" || v.Minor == "" || !strings.HasPrefix(v.GitVersion, apiserver.KubernetesVersion+"+skiff") {
		t.Errorf("version %+v", v)
	}
}

func TestEverythingElseNeedsTheToken(t *testing.T) {
	url, client, token := serve(t)
	for _, tc := range []struct {
		token  string
		code   int
		reason string
	}{
		{"", 401, "Unauthorized"},
		{"wrong", 401, "Unauthorized"},
		{token, 404, "NotFound"},
	} {
		code, body := get(t, client, url+"/api/v1/widgets", tc.token)
		var st struct {
			Kind, Status, Reason string
			Code                 int
		}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("token %q: body %q is not a Status: %v", tc.token, body, err)
		}
		if code != tc.code || st.Kind != "Status" || st.Status != "Failure" || st.Reason != tc.reason || st.Code != tc.code {
			t.Errorf("token %q: %d %+v, want %d %s", tc.token, code, st, tc.code, tc.reason)
		}
	}
}

func TestNotReadyWithoutAStoreLeader(t *testing.T) {
	c := storetest.New(t, 3, nil)
	ca, _ := pki.NewCA("test-ca", time.Now())
	cert, _ := ca.IssueServing("test", []string{"127.0.0.1"}, time.Now())
	iso := c.Leader()
	srv, err := apiserver.New(apiserver.Config{
		Store: c.Nodes[iso].Store(), Registry: registry.NewRegistry(c.Nodes[iso].Store(), resources.Default(c.Nodes[iso].Store())),
		Certificate: cert, AdminTokenHash: pki.TokenHash("x"), Logger: storetest.TestConfig().Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	defer client.CloseIdleConnections()
	c.Isolate(iso)
	code, body := get(t, client, "https://"+ln.Addr().String()+"/readyz?verbose", "")
	if code != 500 || !strings.Contains(body, "[-]etcd failed") {
		t.Fatalf("readyz on a member cut off from the others: %d %q", code, body)
	}
	if code, body := get(t, client, "https://"+ln.Addr().String()+"/livez", ""); code != 200 {
		t.Fatalf("livez: %d %q", code, body)
	}
}

func TestMetricsNeedTheTokenAndShowTheStore(t *testing.T) {
	url, client, token := serve(t)
	if code, _ := get(t, client, url+"/metrics", ""); code != 401 {
		t.Fatalf("GET /metrics without a token: %d, want 401", code)
	}
	get(t, client, url+"/readyz", "")
	code, body := get(t, client, url+"/metrics", token)
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		"skiff_store_is_leader 1",
		"skiff_store_has_leader 1",
		"skiff_store_revision ",
		"skiff_store_raft_entries_total ",
		`apiserver_request_total{code="401",verb="GET"} 1`,
		`apiserver_request_total{code="200",verb="GET"}`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
