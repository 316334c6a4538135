//go:build integration

package workload

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/tools/chaos/check"
	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// startSkiffServer runs a single-member `skiff server` from $SKIFF_BIN and
// returns its kubeconfig once the API answers /readyz.
func startSkiffServer(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Skip("SKIFF_BIN is not set")
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
	kubeconfig := filepath.Join(dir, "kubeconfig")
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command(bin, "kubectl", "--kubeconfig", kubeconfig, "get", "--raw", "/readyz").Output()
		if err == nil && string(out) == "ok" {
			return kubeconfig
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready within 20s: %v %q", err, out)
		}
		time.Sleep(100 * time.Millisecond)
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

// TestConfigMapWorkload runs the ConfigMap register against a real server
// for a few seconds and requires the linearizability and lost-write
// checkers to pass, then plants a lost write and requires a failure.
func TestConfigMapWorkload(t *testing.T) {
	kubeconfig := startSkiffServer(t)
	cs, err := KubeClient(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultRegisterConfig()
	cfg.Keys, cfg.Clients, cfg.Seed = 3, 3, 1
	reg, err := NewConfigMapRegister(cfg, "default", cs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := reg.Cleanup(ctx); err != nil {
			t.Error(err)
		}
	})
	dir := t.TempDir()
	rec, err := history.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rec.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second)
	defer cancel()
	if _, err := Run(ctx, rec, reg); err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer fcancel()
	if err := Final(fctx, rec, reg); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := history.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]int{}
	for _, op := range h.Operations() {
		status[string(op.Func)+"/"+string(op.Status)]++
	}
	t.Logf("operations %v", status)
	for _, want := range []string{"read/ok", "write/ok", "cas/ok", "cas/fail"} {
		if status[want] == 0 {
			t.Errorf("no %s operations in the history", want)
		}
	}
	ccfg := check.DefaultConfig()
	ccfg.ReportDir = dir
	vs, res, err := check.All(h, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Log(v)
		for _, d := range v.Details {
			t.Log("  ", d)
		}
	}
	if res != check.Pass {
		t.Fatalf("verdict %s", res)
	}
	if !plantLostWrite(h) {
		t.Fatal("no key with two acknowledged writes")
	}
	if v := check.LostWrites(h); v.Result != check.Fail {
		t.Fatalf("final value rolled back: %s", v)
	}
}
