package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err == nil {
		t.Fatal("DefaultConfig without Address validated")
	}
	c.Address = "/run/skiff/containerd.sock"
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig with Address: %v", err)
	}
	bad := []func(*Config){
		func(c *Config) { c.Namespace = "" },
		func(c *Config) { c.LoggerBinary = "relative/logger" },
		func(c *Config) { c.LoggerBinary = "/nonexistent/skiff-container-logger" },
		func(c *Config) { c.LogMaxFiles = 0 },
		func(c *Config) { c.ResubscribeBackoff = 0 },
	}
	for i, mutate := range bad {
		c := c
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d validated", i)
		}
	}
}

func TestDaemonConfig(t *testing.T) {
	ok := DaemonConfig{Root: "/var/lib/skiff/containerd", State: "/run/skiff/containerd", Socket: "/run/skiff/containerd/containerd.sock"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []DaemonConfig{
		{Root: "rel", State: "/s", Socket: "/s/c.sock"},
		{Root: "/r", State: "/s", Socket: "/" + strings.Repeat("x", 101)},
		{Root: "/r\"", State: "/s", Socket: "/s/c.sock"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
	ok.setDefaults()
	toml := DaemonConfigTOML(ok)
	for _, want := range []string{
		"version = 2",
		`root = "/var/lib/skiff/containerd"`,
		`state = "/run/skiff/containerd"`,
		`address = "/run/skiff/containerd/containerd.sock"`,
		`"io.containerd.grpc.v1.cri"`,
		"[ttrpc]\n  address = \"\"",
		"[debug]\n  address = \"\"",
		"[metrics]\n  address = \"\"",
		`tcp_address = ""`,
		`path = "/var/lib/skiff/containerd/opt"`,
	} {
		if !strings.Contains(toml, want) {
			t.Errorf("config lacks %q:\n%s", want, toml)
		}
	}
}

func TestWriteMirrorHosts(t *testing.T) {
	dir := t.TempDir()
	if err := WriteMirrorHosts(dir, "127.0.0.1:5000", true, "gcr.io", "docker.io"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"gcr.io", "docker.io"} {
		b, err := os.ReadFile(filepath.Join(dir, n, "hosts.toml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `server = "http://127.0.0.1:5000"`) {
			t.Errorf("%s hosts.toml = %s", n, b)
		}
	}
	if err := WriteMirrorHosts(dir, "reg:443", false, "quay.io"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "quay.io", "hosts.toml")); !strings.Contains(string(b), `server = "https://reg:443"`) {
		t.Errorf("https hosts.toml = %s", b)
	}
	for _, bad := range [][2]string{{"", "gcr.io"}, {"127.0.0.1:5000", "../x"}, {"a/b", "gcr.io"}} {
		if err := WriteMirrorHosts(dir, bad[0], true, bad[1]); err == nil {
			t.Errorf("WriteMirrorHosts(%q, %q) = nil", bad[0], bad[1])
		}
	}
}

func TestImageNames(t *testing.T) {
	tests := []struct {
		in, ref string
		policy  PullPolicy
	}{
		{"busybox", "docker.io/library/busybox:latest", PullAlways},
		{"busybox:1.36", "docker.io/library/busybox:1.36", PullIfNotPresent},
		{"gcr.io/google-samples/hello-app:1.0", "gcr.io/google-samples/hello-app:1.0", PullIfNotPresent},
		{"gcr.io/x/y:latest", "gcr.io/x/y:latest", PullAlways},
		{"gcr.io/x/y@sha256:" + strings.Repeat("a", 64), "gcr.io/x/y@sha256:" + strings.Repeat("a", 64), PullIfNotPresent},
	}
	for _, tt := range tests {
		ref, err := NormalizeImage(tt.in)
		if err != nil || ref != tt.ref {
			t.Errorf("NormalizeImage(%q) = %q, %v; want %q", tt.in, ref, err, tt.ref)
		}
		if p := DefaultPullPolicy(tt.in); p != tt.policy {
			t.Errorf("DefaultPullPolicy(%q) = %s, want %s", tt.in, p, tt.policy)
		}
	}
	if _, err := NormalizeImage("Bad Name!"); err == nil {
		t.Error("NormalizeImage accepted an invalid name")
	}
	if got := imageID("gcr.io/skiff-test/box:1", "sha256:abc"); got != "gcr.io/skiff-test/box@sha256:abc" {
		t.Errorf("imageID = %q", got)
	}
}

func TestLimitedBuffer(t *testing.T) {
	b := &limitedBuffer{limit: 5}
	for _, s := range []string{"abc", "def", "ghi"} {
		if n, err := b.Write([]byte(s)); n != 3 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if string(b.Bytes()) != "abcde" {
		t.Fatalf("Bytes = %q", b.Bytes())
	}
}
