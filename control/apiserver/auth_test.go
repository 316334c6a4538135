package apiserver_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

// authServer is an API server that issues node credentials.
type authServer struct {
	url, admin, join string
	ca               []byte
	client           *http.Client
	srv              *apiserver.Server
}

func serveAuth(t *testing.T) *authServer {
	t.Helper()
	c := storetest.New(t, 1, nil)
	store := c.Nodes[0].Store()
	ca, err := pki.NewCA("test-ca", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServing("test", []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pki.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	join, err := pki.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Config{
		Store: store, Certificate: cert, AdminTokenHash: pki.TokenHash(admin),
		JoinTokenHash: pki.TokenHash(join), CACert: ca.CertPEM, NodeToken: apiserver.LogProxyToken(join),
		SkiffVersion: "test", Registry: registry.NewRegistry(store, resources.Default(store)), Logger: storetest.TestConfig().Logger,
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
	client := &http.Client{Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &authServer{url: "https://" + ln.Addr().String(), admin: admin, join: join, ca: ca.CertPEM, client: client, srv: srv}
}

// call sends a request and returns the status code and body.
func (a *authServer) call(t *testing.T, method, path, token, contentType, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, a.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType == "" && body != "" {
		contentType = "application/json"
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

// mustCall is call that fails the test unless the answer has code want.
func (a *authServer) mustCall(t *testing.T, want int, method, path, token, body string) string {
	t.Helper()
	code, out := a.call(t, method, path, token, "", body)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
	}
	return out
}

func pod(name, node string) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `"},"spec":{"nodeName":"` + node + `","containers":[{"name":"c","image":"busybox"}]}}`
}

func (a *authServer) nodeToken(t *testing.T, node string) string {
	t.Helper()
	cred, err := apiserver.RequestNodeCredential(t.Context(), a.url, a.join, node, nil)
	if err != nil {
		t.Fatalf("node credential for %s: %v", node, err)
	}
	if cred.Server != a.url || cred.CACert != string(a.ca) {
		t.Fatalf("credential names server %q and CA %q, want %q and the cluster CA", cred.Server, cred.CACert, a.url)
	}
	return cred.Token
}

func TestNodeAuthorizer(t *testing.T) {
	a := serveAuth(t)
	for _, p := range [][2]string{{"mine", "n1"}, {"mine-too", "n1"}, {"theirs", "n2"}} {
		a.mustCall(t, 201, "POST", "/api/v1/namespaces/default/pods", a.admin, pod(p[0], p[1]))
	}
	// A pod of n1 uses secret "used" and configmap "cfg"; a pod of n2 uses secret "other".
	a.mustCall(t, 201, "POST", "/api/v1/namespaces/default/pods", a.admin, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"with-refs"},"spec":{"nodeName":"n1",
		"volumes":[{"name":"s","secret":{"secretName":"used"}}],
		"containers":[{"name":"c","image":"busybox","env":[{"name":"X","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"k"}}}]}]}}`)
	a.mustCall(t, 201, "POST", "/api/v1/namespaces/default/pods", a.admin, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"theirs-refs"},"spec":{"nodeName":"n2",
		"imagePullSecrets":[{"name":"other"}],"containers":[{"name":"c","image":"busybox"}]}}`)
	for _, sec := range []string{"used", "other", "unused"} {
		a.mustCall(t, 201, "POST", "/api/v1/namespaces/default/secrets", a.admin, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"`+sec+`"}}`)
	}
	a.mustCall(t, 201, "POST", "/api/v1/namespaces/default/configmaps", a.admin, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"}}`)
	a.mustCall(t, 201, "POST", "/api/v1/nodes", a.admin, `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n2"}}`)
	n1 := a.nodeToken(t, "n1")

	const (
		node1  = `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}`
		node3  = `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n3"}}`
		lease1 = `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n1"},"spec":{"holderIdentity":"n1"}}`
		lease2 = `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n2"}}`
		event  = `{"apiVersion":"v1","kind":"Event","metadata":{"name":"e1"},"involvedObject":{"kind":"Pod","name":"mine","namespace":"default"},"reason":"Started","message":"m","type":"Normal"}`
		status = `{"status":{"phase":"Running"}}`
		merge  = "application/merge-patch+json"
	)
	// In order: the node registers itself before it patches itself.
	for _, tc := range []struct {
		name         string
		method, path string
		contentType  string
		body         string
		code         int
		message      string // in the Status, if set
	}{
		{name: "list pods", method: "GET", path: "/api/v1/pods", code: 200},
		{name: "get a pod of another node", method: "GET", path: "/api/v1/namespaces/default/pods/theirs", code: 200},
		{name: "list secrets", method: "GET", path: "/api/v1/secrets", code: 403,
			message: `node "n1" may read a secrets only by name, one its pods refer to`},
		{name: "get a secret its pod uses", method: "GET", path: "/api/v1/namespaces/default/secrets/used", code: 200},
		{name: "watch a secret its pod uses", method: "GET", path: "/api/v1/namespaces/default/secrets?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3Dused", code: 200},
		{name: "get a configmap its pod uses", method: "GET", path: "/api/v1/namespaces/default/configmaps/cfg", code: 200},
		{name: "get a secret another node's pod uses", method: "GET", path: "/api/v1/namespaces/default/secrets/other", code: 403,
			message: `no relationship found between node "n1" and this object`},
		{name: "get a secret no pod uses", method: "GET", path: "/api/v1/namespaces/default/secrets/unused", code: 403},
		{name: "list configmaps", method: "GET", path: "/api/v1/namespaces/default/configmaps", code: 403},
		{name: "list endpointslices", method: "GET", path: "/apis/discovery.k8s.io/v1/endpointslices", code: 200},
		{name: "get a namespace", method: "GET", path: "/api/v1/namespaces/default", code: 200},
		{name: "discovery", method: "GET", path: "/api", code: 200},
		{name: "group discovery", method: "GET", path: "/apis/coordination.k8s.io/v1", code: 200},
		{name: "register another node", method: "POST", path: "/api/v1/nodes", body: node3, code: 403,
			message: `nodes is forbidden: User "system:node:n1" cannot create resource "nodes" in API group "" at the cluster scope: node "n1" is not allowed to modify node "n3"`},
		{name: "register itself", method: "POST", path: "/api/v1/nodes", body: node1, code: 201},
		{name: "its own status", method: "PATCH", path: "/api/v1/nodes/n1/status", contentType: merge, body: `{"status":{"phase":"Running"}}`, code: 200},
		{name: "its own node", method: "PATCH", path: "/api/v1/nodes/n1", contentType: merge, body: `{"metadata":{"labels":{"a":"b"}}}`, code: 200},
		{name: "another node's status", method: "PATCH", path: "/api/v1/nodes/n2/status", contentType: merge, body: `{"status":{"phase":"Running"}}`, code: 403,
			message: `nodes "n2" is forbidden: User "system:node:n1" cannot patch resource "nodes/status" in API group "" at the cluster scope: node "n1" is not allowed to modify node "n2"`},
		{name: "update another node", method: "PUT", path: "/api/v1/nodes/n2", body: `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n2"}}`, code: 403},
		{name: "delete a node", method: "DELETE", path: "/api/v1/nodes/n2", code: 403},
		{name: "delete itself", method: "DELETE", path: "/api/v1/nodes/n1", code: 403},
		{name: "its own lease", method: "POST", path: "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", body: lease1, code: 201},
		{name: "another node's lease", method: "POST", path: "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", body: lease2, code: 403},
		{name: "a lease elsewhere", method: "POST", path: "/apis/coordination.k8s.io/v1/namespaces/default/leases", body: lease1, code: 403},
		{name: "update another node's lease", method: "PUT", path: "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2", body: lease2, code: 403},
		{name: "its pod's status", method: "PATCH", path: "/api/v1/namespaces/default/pods/mine/status", contentType: merge, body: status, code: 200},
		{name: "another node's pod's status", method: "PATCH", path: "/api/v1/namespaces/default/pods/theirs/status", contentType: merge, body: status, code: 403,
			message: `node "n1" can only update pod status for pods with spec.nodeName set to itself`},
		{name: "another node's pod's spec", method: "PATCH", path: "/api/v1/namespaces/default/pods/theirs", contentType: merge, body: `{"metadata":{"labels":{"a":"b"}}}`, code: 403},
		{name: "its own pod's spec", method: "PATCH", path: "/api/v1/namespaces/default/pods/mine", contentType: merge, body: `{"metadata":{"labels":{"a":"b"}}}`, code: 403},
		{name: "delete another node's pod", method: "DELETE", path: "/api/v1/namespaces/default/pods/theirs", code: 403,
			message: `pods "theirs" is forbidden: User "system:node:n1" cannot delete resource "pods" in API group "" in the namespace "default": node "n1" can only delete pods with spec.nodeName set to itself`},
		{name: "delete its pod", method: "DELETE", path: "/api/v1/namespaces/default/pods/mine?gracePeriodSeconds=0", code: 200},
		{name: "delete a missing pod", method: "DELETE", path: "/api/v1/namespaces/default/pods/gone", code: 404},
		{name: "delete every pod", method: "DELETE", path: "/api/v1/namespaces/default/pods", code: 403},
		{name: "create a pod", method: "POST", path: "/api/v1/namespaces/default/pods", body: pod("new", "n1"), code: 403},
		{name: "bind a pod", method: "POST", path: "/api/v1/namespaces/default/pods/mine-too/binding", body: `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"mine-too"},"target":{"kind":"Node","name":"n1"}}`, code: 403},
		{name: "logs of its pod", method: "GET", path: "/api/v1/namespaces/default/pods/mine-too/log", code: 403},
		{name: "create an event", method: "POST", path: "/api/v1/namespaces/default/events", body: event, code: 201},
		{name: "patch an event", method: "PATCH", path: "/api/v1/namespaces/default/events/e1", contentType: merge, body: `{"count":2}`, code: 200},
		{name: "delete an event", method: "DELETE", path: "/api/v1/namespaces/default/events/e1", code: 403},
		{name: "create a secret", method: "POST", path: "/api/v1/namespaces/default/secrets", body: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, code: 403},
		{name: "list deployments", method: "GET", path: "/apis/apps/v1/deployments", code: 403,
			message: `deployments.apps is forbidden: User "system:node:n1" cannot list resource "deployments" in API group "apps" at the cluster scope`},
		{name: "create a namespace", method: "POST", path: "/api/v1/namespaces", body: `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}`, code: 403},
		{name: "metrics", method: "GET", path: "/metrics", code: 403, message: `forbidden: User "system:node:n1" cannot get path "/metrics"`},
		{name: "cluster status", method: "GET", path: apiserver.StatusPath, code: 403},
		{name: "remove a server", method: "POST", path: apiserver.RemovePath + "?name=x", code: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := a.call(t, tc.method, tc.path, n1, tc.contentType, tc.body)
			if code != tc.code {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.code)
			}
			if code == 403 {
				var st struct{ Kind, Reason, Message string }
				if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" || st.Reason != "Forbidden" {
					t.Fatalf("403 body %q is not a Forbidden Status", body)
				}
				if !strings.Contains(st.Message, tc.message) {
					t.Errorf("message %q, want it to contain %q", st.Message, tc.message)
				}
			}
		})
	}
	// The admin may do what the node may not.
	a.mustCall(t, 200, "DELETE", "/api/v1/namespaces/default/pods/theirs", a.admin, "")
	if code, body := a.call(t, "PATCH", "/api/v1/nodes/n2/status", a.admin, "application/merge-patch+json", `{"status":{"phase":"Running"}}`); code != 200 {
		t.Errorf("admin patches n2's status: %d %s", code, body)
	}
}

func TestNodeCredentialIssuance(t *testing.T) {
	a := serveAuth(t)
	body := `{"nodeName":"n1"}`
	for _, tc := range []struct {
		name, token, message string
	}{
		{"no join token", "", "node credentials need the cluster's join token"},
		{"wrong join token", "not-the-join-token", "the join token is wrong"},
		{"the admin token is not the join token", a.admin, "the join token is wrong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := a.call(t, "POST", apiserver.NodeCredentialsPath, tc.token, "", body)
			var st struct{ Kind, Reason, Message string }
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatalf("%d %q is not a Status", code, out)
			}
			if code != 401 || st.Reason != "Unauthorized" || !strings.Contains(st.Message, tc.message) {
				t.Errorf("%d %+v, want 401 Unauthorized with %q", code, st, tc.message)
			}
		})
	}
	if code, out := a.call(t, "POST", apiserver.NodeCredentialsPath, a.join, "", `{"nodeName":"Not_A_Name"}`); code != 400 {
		t.Errorf("invalid node name: %d %s, want 400", code, out)
	}

	// A client with a wrong join token never sends it: the CA's signature
	// does not check. With the CA given, the server refuses it.
	if _, err := apiserver.RequestNodeCredential(t.Context(), a.url, "wrong", "n1", nil); !errors.Is(err, apiserver.ErrUntrustedCA) {
		t.Errorf("wrong join token, CA fetched: %v, want the CA signature refused", err)
	}
	if _, err := apiserver.RequestNodeCredential(t.Context(), a.url, "wrong", "n1", a.ca); !apierrors.IsUnauthorized(err) {
		t.Errorf("wrong join token, CA given: %v, want Unauthorized", err)
	}

	first := a.nodeToken(t, "n1")
	a.mustCall(t, 200, "GET", "/api/v1/nodes", first, "")
	second := a.nodeToken(t, "n1")
	if first == second {
		t.Fatal("re-issuing gave the same token")
	}
	a.mustCall(t, 401, "GET", "/api/v1/nodes", first, "")
	a.mustCall(t, 200, "GET", "/api/v1/nodes", second, "")
	// A token of a node's shape that was never issued, and one naming another node.
	a.mustCall(t, 401, "GET", "/api/v1/nodes", "skiff-node.n1."+strings.Repeat("0", 64), "")
	a.mustCall(t, 401, "GET", "/api/v1/nodes", strings.Replace(second, ".n1.", ".n2.", 1), "")

	// In process, the same.
	cred, err := a.srv.IssueNodeCredential(t.Context(), "n3")
	if err != nil {
		t.Fatal(err)
	}
	if cred.CACert != string(a.ca) {
		t.Errorf("in-process credential carries CA %q", cred.CACert)
	}
	a.mustCall(t, 403, "POST", "/api/v1/namespaces/default/pods", cred.Token, pod("x", "n3"))
	a.mustCall(t, 200, "GET", "/api/v1/pods", cred.Token, "")
}

func TestNoJoinTokenNoCredentials(t *testing.T) {
	url, client, token := serve(t) // a server given no join token
	code, _ := get(t, client, url+apiserver.NodeCredentialsPath, "")
	if code != 404 {
		t.Errorf("GET %s without a join token configured: %d, want 404", apiserver.NodeCredentialsPath, code)
	}
	code, _ = get(t, client, url+"/api/v1/nodes", token)
	if code != 200 {
		t.Errorf("admin: %d", code)
	}
}

func TestLogProxyToken(t *testing.T) {
	a, b := apiserver.LogProxyToken("join-1"), apiserver.LogProxyToken("join-2")
	if a == "" || a == b || a != apiserver.LogProxyToken("join-1") || strings.Contains(a, "join-1") {
		t.Errorf("LogProxyToken: %q and %q", a, b)
	}
	if apiserver.LogProxyToken("") != "" {
		t.Error("no join token must give no log proxy token")
	}
}
