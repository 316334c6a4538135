package apiclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// server answers with its name and counts the requests of each method.
type server struct {
	*httptest.Server
	name        string
	gets, posts atomic.Int32
	mode        atomic.Value // "", "503" or "drop" (hang up without answering)
}

func newServer(t *testing.T, name string) *server {
	s := &server{name: name}
	s.mode.Store("")
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			s.posts.Add(1)
		} else {
			s.gets.Add(1)
		}
		switch s.mode.Load().(string) {
		case "503":
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case "drop":
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		io.WriteString(w, s.name+":"+string(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) hostPort() string { return strings.TrimPrefix(s.URL, "http://") }

func client(t *testing.T, first *server, others ...*server) *http.Client {
	t.Helper()
	var servers []string
	for _, o := range others {
		servers = append(servers, o.hostPort())
	}
	cfg := Wrap(&rest.Config{Host: first.URL}, servers)
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: rt}
}

func do(t *testing.T, c *http.Client, method, url, body string) (string, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), nil
}

func TestFailsOverWhenAServerIsDown(t *testing.T) {
	a, b := newServer(t, "a"), newServer(t, "b")
	c := client(t, a, b)
	url := a.URL + "/api"
	if got, err := do(t, c, http.MethodPost, url, "x"); err != nil || got != "a:x" {
		t.Fatalf("with a up: %q %v", got, err)
	}
	a.Close() // refuses connections now
	if got, err := do(t, c, http.MethodPost, url, "y"); err != nil || got != "b:y" {
		t.Fatalf("a POST that never reached a: %q %v, want b with its body", got, err)
	}
	if got, err := do(t, c, http.MethodGet, url, ""); err != nil || got != "b:" {
		t.Fatalf("the next request: %q %v, want b", got, err)
	}
}

func TestAWriteWhoseAnswerIsLostIsNotRepeated(t *testing.T) {
	a, b := newServer(t, "a"), newServer(t, "b")
	c := client(t, a, b)
	a.mode.Store("drop")
	if _, err := do(t, c, http.MethodPost, a.URL+"/api", "x"); err == nil {
		t.Fatal("a POST whose answer was lost succeeded")
	}
	if n := b.posts.Load(); n != 0 {
		t.Errorf("the POST was repeated on b (%d times): it may have been applied on a", n)
	}
	if got, err := do(t, c, http.MethodGet, a.URL+"/api", ""); err != nil || got != "b:" {
		t.Errorf("a GET whose answer was lost: %q %v, want it repeated on b", got, err)
	}
}

func TestUnavailableReadsMoveOn(t *testing.T) {
	a, b := newServer(t, "a"), newServer(t, "b")
	c := client(t, a, b)
	a.mode.Store("503")
	if got, err := do(t, c, http.MethodGet, a.URL+"/api", ""); err != nil || got != "b:" {
		t.Fatalf("GET on an unavailable server: %q %v, want b", got, err)
	}
	b.mode.Store("503")
	resp, err := c.Get(a.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("every server unavailable: status %d, want the last 503", resp.StatusCode)
	}
}

func TestAllDownReportsEveryServer(t *testing.T) {
	a, b := newServer(t, "a"), newServer(t, "b")
	c := client(t, a, b)
	aAddr, bAddr := a.hostPort(), b.hostPort()
	a.Close()
	b.Close()
	_, err := do(t, c, http.MethodGet, a.URL+"/api", "")
	if err == nil || !strings.Contains(err.Error(), aAddr) || !strings.Contains(err.Error(), bAddr) {
		t.Fatalf("err %v, want both servers named", err)
	}
}

func TestKubeconfigServersRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = "https://10.0.0.1:6443"
	if !SetServers(cluster, []string{"10.0.0.2:6443", "10.0.0.1:6443"}) {
		t.Fatal("SetServers on a cluster without the list changed nothing")
	}
	if SetServers(cluster, []string{"10.0.0.1:6443", "10.0.0.2:6443"}) {
		t.Error("the same servers in another order changed the list")
	}
	cfg.Clusters["c"] = cluster
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "x"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	loaded, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := ServersOf(loaded.Clusters["c"]); len(got) != 2 || got[0] != "10.0.0.1:6443" || got[1] != "10.0.0.2:6443" {
		t.Fatalf("servers after a write and a load: %v", got)
	}
	rc, err := ForKubeconfig(path)
	if err != nil {
		t.Fatal(err)
	}
	f := failoverOf(rc)
	if f == nil || len(f.order()) != 2 || f.order()[0] != "10.0.0.1:6443" {
		t.Fatalf("failover of the kubeconfig: %+v", f)
	}
}

func TestUpdateKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://10.0.0.1:6443"}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "x"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	servers := []string{"10.0.0.1:6443", "10.0.0.3:6443"}
	if changed, err := UpdateKubeconfig(path, servers); err != nil || !changed {
		t.Fatalf("first update: %v %v", changed, err)
	}
	if changed, err := UpdateKubeconfig(path, servers); err != nil || changed {
		t.Fatalf("the same list again: %v %v, want no rewrite", changed, err)
	}
	loaded, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := ServersOf(loaded.Clusters["c"]); len(got) != 2 || loaded.AuthInfos["u"].Token != "t" {
		t.Fatalf("after the update: servers %v, token %q", got, loaded.AuthInfos["u"].Token)
	}
}
