package pki

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

const kubectlPath = "/usr/bin/kubectl"

func TestWriteKubeconfig(t *testing.T) {
	ca := newTestCA(t, "skiff-ca")
	tok, err := NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "sub", "kubeconfig")
	server := "https://127.0.0.1:6443"
	if err := WriteKubeconfig(path, "skiff", server, ca.CertPEM, tok); err != nil {
		t.Fatalf("WriteKubeconfig: %v", err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Fatalf("file mode = %v, want %v", got, want)
	}
	for _, d := range []string{filepath.Join(dir, "new"), filepath.Join(dir, "new", "sub")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if got, want := fi.Mode().Perm(), os.FileMode(0o700); got != want {
			t.Fatalf("mode of %s = %v, want %v", d, got, want)
		}
	}
	checkOnlyFile(t, filepath.Dir(path), "kubeconfig")

	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatalf("LoadFromFile: %v", err)
	}
	if got, want := cfg.CurrentContext, "skiff"; got != want {
		t.Fatalf("current-context = %q, want %q", got, want)
	}
	kctx := cfg.Contexts["skiff"]
	if kctx == nil || kctx.Cluster != "skiff" || kctx.AuthInfo != "skiff" {
		t.Fatalf("context skiff = %+v, want cluster and user skiff", kctx)
	}
	cluster := cfg.Clusters["skiff"]
	if cluster == nil {
		t.Fatalf("no cluster skiff in %v", cfg.Clusters)
	}
	if got, want := cluster.Server, server; got != want {
		t.Fatalf("server = %q, want %q", got, want)
	}
	if got, want := cluster.CertificateAuthorityData, ca.CertPEM; !bytes.Equal(got, want) {
		t.Fatalf("certificate-authority-data = %q, want %q", got, want)
	}
	user := cfg.AuthInfos["skiff"]
	if user == nil || user.Token != tok {
		t.Fatalf("user skiff = %+v, want token %q", user, tok)
	}

	// Rewriting replaces the file whole, and fixes a loosened mode.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatalf("chmod: %v", err)
	}
	tok2, err := NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	if err := WriteKubeconfig(path, "skiff", server, ca.CertPEM, tok2); err != nil {
		t.Fatalf("WriteKubeconfig again: %v", err)
	}
	cfg, err = clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatalf("LoadFromFile: %v", err)
	}
	if got, want := cfg.AuthInfos["skiff"].Token, tok2; got != want {
		t.Fatalf("token after rewrite = %q, want %q", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("after rewrite: stat = %v, %v; want mode 0600", fi, err)
	}
	checkOnlyFile(t, filepath.Dir(path), "kubeconfig")
}

func TestWriteKubeconfigRejects(t *testing.T) {
	ca := newTestCA(t, "skiff-ca")
	tests := []struct {
		name, kname, server, token string
		caPEM                      []byte
	}{
		{"empty name", "", "https://127.0.0.1:6443", "t", ca.CertPEM},
		{"empty token", "skiff", "https://127.0.0.1:6443", "", ca.CertPEM},
		{"http server", "skiff", "http://127.0.0.1:6443", "t", ca.CertPEM},
		{"server without scheme", "skiff", "127.0.0.1:6443", "t", ca.CertPEM},
		{"no CA", "skiff", "https://127.0.0.1:6443", "t", nil},
		{"CA key instead of certificate", "skiff", "https://127.0.0.1:6443", "t", ca.KeyPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "kubeconfig")
			if err := WriteKubeconfig(path, tt.kname, tt.server, tt.caPEM, tt.token); err == nil {
				t.Fatalf("WriteKubeconfig succeeded, want an error")
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("a rejected kubeconfig left %s behind (stat: %v)", path, err)
			}
		})
	}
}

// TestKubeconfigKubectl checks that the real kubectl reads the file and,
// with it, reaches an HTTPS server that has a certificate from the CA and
// wants the token.
func TestKubeconfigKubectl(t *testing.T) {
	if _, err := os.Stat(kubectlPath); err != nil {
		t.Skipf("kubectl not installed at %s (%v): skipping the check that kubectl reads the kubeconfig", kubectlPath, err)
	}
	now := time.Now()
	ca, err := NewCA("skiff-ca", now)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	cert, err := ca.IssueServing("apiserver", []string{"127.0.0.1"}, now)
	if err != nil {
		t.Fatalf("IssueServing: %v", err)
	}
	tok, err := NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	hash := TokenHash(tok)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !TokenMatches(bearer, hash) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := WriteKubeconfig(path, "skiff", ts.URL, ca.CertPEM, tok); err != nil {
		t.Fatalf("WriteKubeconfig: %v", err)
	}

	kubectl := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), kubectlPath, append([]string{"--kubeconfig", path}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "KUBECONFIG=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"token", []string{"config", "view", "--raw", "-o", "jsonpath={.users[0].user.token}"}, tok},
		{"server", []string{"config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.server}"}, ts.URL},
		{"current context", []string{"config", "current-context"}, "skiff\n"},
		{"request over TLS with the token", []string{"get", "--raw", "/healthz"}, `{"ok":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := kubectl(t, tt.args...)
			if err != nil {
				t.Fatalf("kubectl %q: %v\n%s", tt.args, err, out)
			}
			if out != tt.want {
				t.Fatalf("kubectl %q printed %q, want %q", tt.args, out, tt.want)
			}
		})
	}
}

// checkOnlyFile fails unless name is the only entry in dir: no temporary
// files are left behind.
func checkOnlyFile(t *testing.T, dir, name string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != name {
		t.Fatalf("%s holds %q, want only %q", dir, names, name)
	}
}
