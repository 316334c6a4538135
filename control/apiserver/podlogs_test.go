package apiserver_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/nodes/logserver"
	"github.com/skiff-sh/skiff/nodes/podlogs"
	"github.com/skiff-sh/skiff/nodes/podsync"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

const testNodeToken = "node-token"

// logsCluster is an API server that proxies pods/log to nodes, and a
// clientset for it.
type logsCluster struct {
	url    string
	http   *http.Client
	token  string
	client kubernetes.Interface
}

// serveLogsAPI starts an API server configured with testNodeToken, as
// serveStore does.
func serveLogsAPI(t *testing.T) *logsCluster {
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
	store := c.Nodes[0].Store()
	srv, err := apiserver.New(apiserver.Config{
		Store: store, Certificate: cert, AdminTokenHash: pki.TokenHash(token), SkiffVersion: "test",
		Registry: registry.NewRegistry(store, resources.Default(store)), Logger: storetest.TestConfig().Logger,
		NodeToken: testNodeToken,
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
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	cfg := &rest.Config{Host: "https://" + ln.Addr().String(), BearerToken: token,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM}}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &logsCluster{url: "https://" + ln.Addr().String(), http: hc, token: token, client: cs}
}

// appendLog appends entries (one per line) to a CRI log file.
func appendLog(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b []byte
	for _, l := range lines {
		b = podlogs.AppendEntry(b, podlogs.Entry{Time: time.Now(), Stream: podlogs.Stdout, Content: []byte(l)})
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// startNodeLogs serves logserver.Handler over dir on loopback and returns
// its port.
func startNodeLogs(t *testing.T, dir, token string) int32 {
	t.Helper()
	srv := httptest.NewServer(logserver.Handler(logserver.DirLocator{Dir: dir}, logserver.BearerToken(token), storetest.TestConfig().Logger))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	return int32(port)
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return int32(port)
}

func (c *logsCluster) addNode(t *testing.T, name, addr string, port int32) {
	t.Helper()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	created, err := c.client.CoreV1().Nodes().Create(t.Context(), node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	if addr != "" {
		created.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: addr}}
	}
	created.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(t.Context(), created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("node %s status: %v", name, err)
	}
}

func (c *logsCluster) addPod(t *testing.T, name, node string, annotations map[string]string, init []string, containers ...string) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: annotations},
		Spec: corev1.PodSpec{NodeName: node}}
	for _, n := range init {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: n, Image: "busybox"})
	}
	for _, n := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: n, Image: "busybox"})
	}
	if _, err := c.client.CoreV1().Pods("default").Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

func (c *logsCluster) get(t *testing.T, ctx context.Context, path, accept string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// logsFixture is a cluster with nodes in every state and pods on them.
func logsFixture(t *testing.T) (*logsCluster, string) {
	t.Helper()
	c := serveLogsAPI(t)
	dir := t.TempDir()
	appendLog(t, podsync.LogPath(dir, "default", "web", "u1", "app", 0), "app crashed")
	appendLog(t, podsync.LogPath(dir, "default", "web", "u1", "app", 1), "app 1", "app 2")
	appendLog(t, podsync.LogPath(dir, "default", "web", "u1", "side", 0), "side 1")
	appendLog(t, podsync.LogPath(dir, "default", "solo", "u2", "main", 0), "solo 1")
	appendLog(t, podsync.LogPath(dir, "default", "elsewhere", "u3", "app", 0), "never read")

	c.addNode(t, "n1", "127.0.0.1", startNodeLogs(t, dir, testNodeToken))
	c.addNode(t, "down", "127.0.0.1", closedPort(t))
	c.addNode(t, "bare", "", 0)
	c.addNode(t, "wrongtoken", "127.0.0.1", startNodeLogs(t, dir, "another-token"))

	c.addPod(t, "web", "n1", map[string]string{apiserver.DefaultContainerAnnotation: "app"}, nil, "side", "app")
	c.addPod(t, "solo", "n1", nil, nil, "main")
	c.addPod(t, "multi", "n1", nil, []string{"setup"}, "a", "b")
	c.addPod(t, "badannotation", "n1", map[string]string{apiserver.DefaultContainerAnnotation: "gone"}, nil, "a", "b")
	c.addPod(t, "pending", "", nil, nil, "main")
	c.addPod(t, "ondown", "down", nil, nil, "main")
	c.addPod(t, "onbare", "bare", nil, nil, "main")
	c.addPod(t, "onghost", "ghost", nil, nil, "main")
	c.addPod(t, "elsewhere", "wrongtoken", nil, nil, "app")
	return c, dir
}

func TestPodLogs(t *testing.T) {
	c, _ := logsFixture(t)
	pods := "/api/v1/namespaces/default/pods/"
	tests := []struct {
		name, path, accept string
		wantCode           int
		want               string // the body, or for errors a part of the Status message
		wantReason         metav1.StatusReason
	}{
		{"default-container annotation", "web/log", "", 200, "app 1\napp 2\n", ""},
		{"container", "web/log?container=side", "", 200, "side 1\n", ""},
		{"previous", "web/log?container=app&previous=true", "", 200, "app crashed\n", ""},
		{"tailLines", "web/log?tailLines=1", "", 200, "app 2\n", ""},
		{"limitBytes", "web/log?limitBytes=3", "", 200, "app", ""},
		{"timestamps", "solo/log?timestamps=true", "", 200, "Z solo 1\n", ""},
		{"the only container", "solo/log", "", 200, "solo 1\n", ""},
		{"accept text/plain", "solo/log", "text/plain", 200, "solo 1\n", ""},
		{"accept protobuf", "solo/log", "application/vnd.kubernetes.protobuf, application/json", 200, "solo 1\n", ""},

		{"several containers", "multi/log", "", 400, "a container name must be specified for pod multi, choose one of: [setup a b]", metav1.StatusReasonBadRequest},
		{"annotation naming no container", "badannotation/log", "", 400, "a container name must be specified for pod badannotation, choose one of: [a b]", metav1.StatusReasonBadRequest},
		{"unknown container", "web/log?container=nope", "", 400, "container nope is not valid for pod web", metav1.StatusReasonBadRequest},
		// The node has no log directory for multi: its answer comes through.
		{"init container goes to the node", "multi/log?container=setup", "", 404, `pod "multi" does not exist`, metav1.StatusReasonNotFound},
		{"not bound", "pending/log", "", 400, "pod pending does not have a host assigned", metav1.StatusReasonBadRequest},
		{"no previous instance", "web/log?container=side&previous=true", "", 404, `previous terminated container "side" in pod "web" not found`, metav1.StatusReasonNotFound},
		{"unknown pod", "nope/log", "", 404, `pods "nope" not found`, metav1.StatusReasonNotFound},
		{"negative tailLines", "web/log?tailLines=-1", "", 422, "tailLines: Invalid value: -1", metav1.StatusReasonInvalid},
		{"both since", "web/log?sinceSeconds=1&sinceTime=2020-01-01T00:00:00Z", "", 422, "at most one of `sinceTime` or `sinceSeconds`", metav1.StatusReasonInvalid},
		{"stream selection", "web/log?stream=Stderr", "", 422, `stream: Unsupported value: "Stderr"`, metav1.StatusReasonInvalid},
		{"tailLines not a number", "web/log?tailLines=x", "", 400, "invalid query", metav1.StatusReasonBadRequest},
		{"node down", "ondown/log", "", 503, `unable to reach node "down" at 127.0.0.1:`, metav1.StatusReasonServiceUnavailable},
		{"node without log endpoint", "onbare/log", "", 503, `node "bare" publishes no log endpoint`, metav1.StatusReasonServiceUnavailable},
		{"node that does not exist", "onghost/log", "", 404, `nodes "ghost" not found`, metav1.StatusReasonNotFound},
		{"node refusing our token", "elsewhere/log", "", 500, `node "wrongtoken" refused the API server's credentials`, metav1.StatusReasonInternalError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := c.get(t, t.Context(), pods+tt.path, tt.accept)
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("GET %s: %d %s, want %d", tt.path, resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantCode == 200 {
				if ct := resp.Header.Get("Content-Type"); ct != "text/plain" {
					t.Errorf("Content-Type = %q, want text/plain", ct)
				}
				if tt.name == "timestamps" {
					if !strings.HasSuffix(string(body), tt.want) || len(body) < len("2006-01-02T15:04:05Z solo 1\n") {
						t.Fatalf("body %q, want a timestamp and %q", body, tt.want)
					}
					return
				}
				if string(body) != tt.want {
					t.Fatalf("body %q, want %q", body, tt.want)
				}
				return
			}
			st := &metav1.Status{}
			if err := jsonUnmarshal(body, st); err != nil || st.Kind != "Status" {
				t.Fatalf("error body %q is not a Status: %v", body, err)
			}
			if st.Reason != tt.wantReason || int(st.Code) != tt.wantCode || !strings.Contains(st.Message, tt.want) {
				t.Fatalf("Status %s %d %q, want %s %d containing %q", st.Reason, st.Code, st.Message, tt.wantReason, tt.wantCode, tt.want)
			}
		})
	}
	t.Run("only GET", func(t *testing.T) {
		code, body := do(t, c.http, http.MethodPost, c.url+pods+"web/log", c.token, "application/json", []byte("{}"))
		if code != http.StatusMethodNotAllowed {
			t.Fatalf("POST log: %d %s", code, body)
		}
	})
}

// TestPodLogsFollow reads a first line, appends to the file, and reads the
// next through the API server, over raw HTTP and through client-go.
func TestPodLogsFollow(t *testing.T) {
	c, dir := logsFixture(t)
	path := podsync.LogPath(dir, "default", "solo", "u2", "main", 0)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	resp := c.get(t, ctx, "/api/v1/namespaces/default/pods/solo/log?follow=true", "")
	if resp.StatusCode != 200 {
		t.Fatalf("follow: %d", resp.StatusCode)
	}
	raw := bufio.NewReader(resp.Body)

	stream, err := c.client.CoreV1().Pods("default").GetLogs("solo", &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		t.Fatalf("client-go follow: %v", err)
	}
	defer stream.Close()
	viaClient := bufio.NewReader(stream)

	expect := func(r *bufio.Reader, who, want string) {
		t.Helper()
		line, err := r.ReadString('\n')
		if err != nil || line != want {
			t.Fatalf("%s read %q, %v; want %q", who, line, err, want)
		}
	}
	expect(raw, "raw", "solo 1\n")
	expect(viaClient, "client-go", "solo 1\n")
	appendLog(t, path, "solo 2")
	expect(raw, "raw", "solo 2\n")
	expect(viaClient, "client-go", "solo 2\n")
	appendLog(t, path, "solo 3")
	expect(viaClient, "client-go", "solo 3\n")
	expect(raw, "raw", "solo 3\n")
}

// TestPodLogsClientGo drives pods/log as kubectl does, with client-go's
// GetLogs(...).Stream (DoRaw for the status code alone: it does not decode
// Status bodies).
func TestPodLogsClientGo(t *testing.T) {
	c, _ := logsFixture(t)
	pods := c.client.CoreV1().Pods("default")
	tail := int64(1)
	for _, tc := range []struct {
		pod  string
		opts corev1.PodLogOptions
		want string
	}{
		{"web", corev1.PodLogOptions{}, "app 1\napp 2\n"},
		{"web", corev1.PodLogOptions{Container: "side"}, "side 1\n"},
		{"web", corev1.PodLogOptions{Container: "app", Previous: true}, "app crashed\n"},
		{"web", corev1.PodLogOptions{Container: "app", TailLines: &tail}, "app 2\n"},
	} {
		stream, err := pods.GetLogs(tc.pod, &tc.opts).Stream(t.Context())
		if err != nil {
			t.Fatalf("GetLogs(%s, %+v).Stream: %v", tc.pod, tc.opts, err)
		}
		body, err := io.ReadAll(stream)
		stream.Close()
		if err != nil || string(body) != tc.want {
			t.Fatalf("GetLogs(%s, %+v) = %q, %v; want %q", tc.pod, tc.opts, body, err, tc.want)
		}
	}
	_, err := pods.GetLogs("multi", &corev1.PodLogOptions{}).Stream(t.Context())
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "choose one of: [setup a b]") {
		t.Fatalf("GetLogs(multi) error = %v, want BadRequest naming the containers", err)
	}
	_, err = pods.GetLogs("ondown", &corev1.PodLogOptions{}).DoRaw(t.Context())
	if !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("GetLogs(ondown) error = %v, want ServiceUnavailable", err)
	}
	_, err = pods.GetLogs("web", &corev1.PodLogOptions{Container: "side", Previous: true}).Stream(t.Context())
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `previous terminated container "side" in pod "web" not found`) {
		t.Fatalf("GetLogs(web, side, previous) error = %v, want NotFound with kubelet's message", err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
