package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

// TestJoinAsNode gets a node credential from an in-process API server the
// way `skiff node --server` does, and uses the kubeconfig it writes.
func TestJoinAsNode(t *testing.T) {
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
	const join = "the-join-token"
	srv, err := apiserver.New(apiserver.Config{
		Store: store, Certificate: cert, AdminTokenHash: pki.TokenHash("admin-token"),
		JoinTokenHash: pki.TokenHash(join), CACert: ca.CertPEM,
		SkiffVersion: "test", Registry: registry.NewRegistry(store, resources.Default(store)), Logger: storetest.TestConfig().Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	url := "https://" + ln.Addr().String()
	log := slog.New(slog.DiscardHandler)

	// A wrong join token is final, not retried for minutes.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := joinAsNode(ctx, url, "wrong", "n1", ca.CertPEM, t.TempDir(), log); !apierrors.IsUnauthorized(err) {
		t.Errorf("wrong join token: %v, want 401", err)
	}
	if _, err := joinAsNode(ctx, url, "wrong", "n1", nil, t.TempDir(), log); err == nil || ctx.Err() != nil {
		t.Errorf("wrong join token, CA unknown: %v (ctx %v), want a prompt refusal", err, ctx.Err())
	}

	dir := t.TempDir()
	cfg, err := joinAsNode(ctx, url, join, "n1", nil, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "kubeconfig")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig: %v %v", fi, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the node lists pods: %v", err)
	}
	if _, err := client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the node lists deployments: %v, want 403", err)
	}
}
