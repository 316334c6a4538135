//go:build integration

package apiserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/pki"
)

// TestNodeCredentialsAgainstARealServer is issue 6's demonstration 5, API
// part, against `skiff server` from $SKIFF_BIN: no node credential without
// the join token, and a node's credential cannot delete another node's pods
// (403) while the admin can.
func TestNodeCredentialsAgainstARealServer(t *testing.T) {
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Skip("SKIFF_BIN is unset: set it to a built skiff binary (make build; SKIFF_BIN=$PWD/bin/skiff)")
	}
	dir := startSkiffServer(t, bin)
	adminCfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	admin := kubernetes.NewForConfigOrDie(adminCfg)
	raw, err := os.ReadFile(filepath.Join(dir, "join-token")) // made by a server given none
	if err != nil {
		t.Fatal(err)
	}
	join := strings.TrimSpace(string(raw))

	// Without the join token: no credential.
	if _, err := apiserver.RequestNodeCredential(t.Context(), adminCfg.Host, "not-the-join-token", "n1", nil); !errors.Is(err, apiserver.ErrUntrustedCA) {
		t.Errorf("wrong join token: %v, want the CA refused before the token is sent", err)
	}
	if _, err := apiserver.RequestNodeCredential(t.Context(), adminCfg.Host, "not-the-join-token", "n1", adminCfg.CAData); !apierrors.IsUnauthorized(err) {
		t.Errorf("wrong join token, CA pinned: %v, want 401", err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, adminCfg.Host+apiserver.NodeCredentialsPath, strings.NewReader(`{"nodeName":"n1"}`))
	if err != nil {
		t.Fatal(err)
	}
	hc := httpClient(t, adminCfg.CAData)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no join token: %s, want 401", resp.Status)
	}

	// With it: one credential per node.
	nodes := map[string]*kubernetes.Clientset{}
	for _, name := range []string{"n1", "n2"} {
		cred, err := apiserver.RequestNodeCredential(t.Context(), adminCfg.Host, join, name, nil)
		if err != nil {
			t.Fatalf("credential for %s: %v", name, err)
		}
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := pki.WriteKubeconfig(path, "skiff", cred.Server, []byte(cred.CACert), cred.Token); err != nil {
			t.Fatal(err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = kubernetes.NewForConfigOrDie(cfg)
	}
	pods := admin.CoreV1().Pods("default")
	for _, p := range [][2]string{{"on-n1", "n1"}, {"on-n2", "n2"}} {
		_, err := pods.Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p[0]},
			Spec: corev1.PodSpec{NodeName: p[1], Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("admin creates %s: %v", p[0], err)
		}
	}
	n1 := nodes["n1"].CoreV1().Pods("default")
	if list, err := n1.List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Errorf("n1 lists pods: %v", err)
	} else if len(list.Items) != 2 {
		t.Errorf("n1 lists %d pods, want 2", len(list.Items))
	}
	zero := int64(0)
	err = n1.Delete(t.Context(), "on-n2", metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "system:node:n1" cannot delete resource "pods"`) {
		t.Errorf("n1 deletes n2's pod: %v, want 403 naming the user", err)
	}
	if _, err := n1.Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "new"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("n1 creates a pod: %v, want 403", err)
	}
	if err := n1.Delete(t.Context(), "on-n1", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Errorf("n1 deletes its own pod: %v", err)
	}
	if err := pods.Delete(t.Context(), "on-n2", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Errorf("admin deletes n2's pod: %v", err)
	}
	for _, name := range []string{"on-n1", "on-n2"} {
		if _, err := pods.Get(t.Context(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("pod %s after its deletion: %v, want NotFound", name, err)
		}
	}
}

func httpClient(t *testing.T, caPEM []byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in the kubeconfig's CA data")
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// startSkiffServer runs a single-member `skiff server` without Serf and
// returns its data dir once the API answers /readyz.
func startSkiffServer(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	srv := exec.Command(bin, "server", "--name", "solo", "--data-dir", dir,
		"--raft-addr", freeAddr(t), "--client-addr", freeAddr(t), "--api-addr", "127.0.0.1:0", "--serf-addr", "off", "--log-level", "warn")
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		if cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig")); err == nil {
			if c, err := kubernetes.NewForConfig(cfg); err == nil {
				if out, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err == nil && string(out) == "ok" {
					return dir
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("server not ready within 30s")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
