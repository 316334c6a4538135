package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/control/server"
)

// kubectl runs the machine's kubectl (1.32, shipped with the image) with a
// kubeconfig and returns its output.
func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed: the machine image ships it at /usr/bin/kubectl")
	}
	cmd := exec.CommandContext(t.Context(), path, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

func TestKubectlReachesTheAPIWithTheWrittenKubeconfig(t *testing.T) {
	addrs := freeAddrs(t, 2)
	cfg := testConfig(t, "solo", addrs[0], addrs[1])
	stop := startRun(t, cfg)
	defer stop()
	kc := filepath.Join(cfg.DataDir, "kubeconfig")
	if fi, err := os.Stat(kc); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig %s: %v %v", kc, fi, err)
	}

	out, err := kubectl(t, kc, "version", "-o", "json")
	if err != nil {
		t.Fatalf("kubectl version: %v\n%s", err, out)
	}
	var v struct {
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	// kubectl may print a version-skew warning after the JSON.
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&v); err != nil || !strings.Contains(v.ServerVersion.GitVersion, "+skiff") {
		t.Fatalf("kubectl version: server version %q (%v)\n%s", v.ServerVersion.GitVersion, err, out)
	}
	if out, err := kubectl(t, kc, "get", "--raw", "/readyz?verbose"); err != nil || !strings.Contains(out, "[+]etcd ok") {
		t.Fatalf("kubectl get --raw /readyz: %v\n%s", err, out)
	}

	// The same kubeconfig with another token is refused.
	conf, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range conf.AuthInfos {
		u.Token = strings.Repeat("0", 64)
	}
	bad := filepath.Join(t.TempDir(), "bad-kubeconfig")
	if err := clientcmd.WriteToFile(*conf, bad); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectl(t, bad, "get", "--raw", "/api"); err == nil || !strings.Contains(out, "Unauthorized") {
		t.Fatalf("kubectl with a wrong token: %v\n%s", err, out)
	}
}

func TestServersShareTheClusterCAAndToken(t *testing.T) {
	addrs := freeAddrs(t, 6)
	peers := map[string]string{}
	for i := range 3 {
		peers[fmt.Sprintf("n%d", i+1)] = addrs[i]
	}
	var cfgs []server.Config
	for i := range 3 {
		cfg := testConfig(t, fmt.Sprintf("n%d", i+1), addrs[i], addrs[3+i])
		cfg.Peers = peers
		cfgs = append(cfgs, cfg)
	}
	// Start all three at once: they race to create the secrets. (startRun
	// waits for Ready, which a member of a cluster reaches only with the
	// others up.)
	type running struct {
		ready  chan struct{}
		done   chan error
		cancel context.CancelFunc
	}
	var rs []running
	for _, cfg := range cfgs {
		r := running{ready: make(chan struct{}), done: make(chan error, 1)}
		var once sync.Once
		cfg.Ready = func() { once.Do(func() { close(r.ready) }) }
		var ctx context.Context
		ctx, r.cancel = context.WithCancel(t.Context())
		go func() { r.done <- server.Run(ctx, cfg) }()
		rs = append(rs, r)
	}
	returned := make([]bool, len(rs)) // its done was read already
	defer func() {
		for _, r := range rs {
			r.cancel()
		}
		for i, r := range rs {
			if returned[i] {
				continue
			}
			if err := <-r.done; err != nil {
				t.Errorf("n%d: Run after cancel: %v", i+1, err)
			}
		}
	}()
	for i, r := range rs {
		select {
		case <-r.ready:
		case err := <-r.done:
			returned[i] = true
			t.Fatalf("n%d: Run returned before Ready: %v", i+1, err)
		case <-time.After(60 * time.Second):
			t.Fatalf("n%d: not ready within 60s", i+1)
		}
	}
	var ca []byte
	var token string
	for i, cfg := range cfgs {
		conf, err := clientcmd.LoadFromFile(filepath.Join(cfg.DataDir, "kubeconfig"))
		if err != nil {
			t.Fatal(err)
		}
		var c []byte
		var tok string
		for _, cl := range conf.Clusters {
			c = cl.CertificateAuthorityData
		}
		for _, u := range conf.AuthInfos {
			tok = u.Token
		}
		if i == 0 {
			ca, token = c, tok
		} else if !bytes.Equal(c, ca) || tok != token {
			t.Fatalf("%s has another CA or token than n1", cfg.Name)
		}
		// Each server's certificate verifies with the shared CA.
		if out, err := kubectl(t, filepath.Join(cfg.DataDir, "kubeconfig"), "get", "--raw", "/readyz"); err != nil || out != "ok" {
			t.Fatalf("%s: kubectl get --raw /readyz: %v %q", cfg.Name, err, out)
		}
	}
}
