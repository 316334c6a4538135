//go:build integration

package testimages

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/vishvananda/netlink"

	"github.com/skiff-sh/skiff/tools/lab/innetns"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startRegistry starts a registry as cfg says and stops it in t.Cleanup.
func startRegistry(t *testing.T, cfg RegistryConfig) *Registry {
	t.Helper()
	if _, err := os.Stat(cfg.Binary); err != nil {
		t.Skipf("no docker-registry: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, err := StartRegistry(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return r
}

// checkLabImages asserts the registry at host serves the lab images.
func checkLabImages(t *testing.T, host string, opts ...remote.Option) {
	t.Helper()
	want := map[string][]string{"google-samples/hello-app": {"1.0", "2.0"}, "skiff/testbox": {"1"}}
	for repo, tags := range want {
		r, err := name.NewRepository(host+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.List(r, append([]remote.Option{remote.WithContext(t.Context())}, opts...)...)
		if err != nil {
			t.Fatalf("listing %s: %v", repo, err)
		}
		slices.Sort(got)
		if !slices.Equal(got, tags) {
			t.Errorf("tags of %s = %v, want %v", repo, got, tags)
		}
	}
}

func TestRegistryLoopback(t *testing.T) {
	cfg := DefaultRegistryConfig()
	cfg.Dir = t.TempDir()
	r := startRegistry(t, cfg)
	if !strings.HasPrefix(r.Addr(), "127.0.0.1:") || r.Addr() == "127.0.0.1:0" {
		t.Fatalf("Addr() = %q, want the kernel-chosen port", r.Addr())
	}
	if err := PushLabImages(t.Context(), r.Addr(), sharedCache); err != nil {
		t.Fatal(err)
	}
	checkLabImages(t, r.Addr())

	// Pushing again is idempotent (same digests).
	if err := PushLabImages(t.Context(), r.Addr(), sharedCache); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(t.Context()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := remote.List(mustRepo(t, r.Addr()+"/skiff/testbox"), remote.WithContext(t.Context())); err == nil {
		t.Errorf("the registry still answers after Stop")
	}
	log, err := os.ReadFile(r.LogPath())
	if err != nil || !strings.Contains(string(log), "listening on") {
		t.Errorf("registry log %s lacks 'listening on': %v", r.LogPath(), err)
	}
}

func mustRepo(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A registry inside a throwaway network namespace, reached through
// Registry.Transport (sockets made inside that namespace).
func TestRegistryInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	ns := "skifftr-" + hex.EncodeToString(b)
	path, err := innetns.NewNamed(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := innetns.DeleteNamed(ns); err != nil {
			t.Error(err)
		}
	})
	if err := innetns.Do(path, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		t.Fatalf("lo up in %s: %v", ns, err)
	}
	cfg := DefaultRegistryConfig()
	cfg.Dir = t.TempDir()
	cfg.NetnsPath = path
	r := startRegistry(t, cfg)
	if err := PushLabImages(t.Context(), r.Addr(), sharedCache, remote.WithTransport(r.Transport())); err != nil {
		t.Fatal(err)
	}
	checkLabImages(t, r.Addr(), remote.WithTransport(r.Transport()))
	// From the root namespace the same loopback address has no registry.
	if _, err := remote.List(mustRepo(t, r.Addr()+"/skiff/testbox"), remote.WithContext(t.Context())); err == nil {
		t.Errorf("the registry in %s answers on the root namespace's loopback", ns)
	}
}
