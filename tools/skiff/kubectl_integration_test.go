//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSkiffKubectl runs `skiff kubectl` (the embedded k8s.io/kubectl)
// against a `skiff server`, finding the kubeconfig through SKIFF_DATA_DIR.
func TestSkiffKubectl(t *testing.T) {
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Skip("SKIFF_BIN is unset: set it to a built skiff binary (make test-integration does)")
	}
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
	kubectl := func(args ...string) (string, string, error) {
		cmd := exec.CommandContext(t.Context(), bin, append([]string{"kubectl"}, args...)...)
		cmd.Env = append(os.Environ(), "SKIFF_DATA_DIR="+dir, "KUBECONFIG=")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _, err := kubectl("get", "--raw", "/readyz")
		if err == nil && out == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready through skiff kubectl within 15s: %v %q", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "kubeconfig")); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := kubectl("version", "-o", "json")
	if err != nil {
		t.Fatalf("skiff kubectl version: %v\n%s%s", err, out, errOut)
	}
	var v struct {
		ClientVersion struct{ GitVersion string } `json:"clientVersion"`
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version output: %v\n%s", err, out)
	}
	if !strings.HasPrefix(v.ClientVersion.GitVersion, "v1.") || !strings.Contains(v.ServerVersion.GitVersion, "+skiff") {
		t.Fatalf("versions: client %q server %q", v.ClientVersion.GitVersion, v.ServerVersion.GitVersion)
	}

	// kubectl's errors and exit codes come through.
	_, errOut, err = kubectl("get", "--raw", "/no/such/path")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(errOut, "NotFound") {
		t.Fatalf("failing kubectl command: %v %q", err, errOut)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
