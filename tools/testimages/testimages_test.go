package testimages

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// sharedCache is a hello-app build cache shared by the tests that only need
// some build, so the package builds each version once.
var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "testimages-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// layerFiles returns the single layer's tar headers by path.
func layerFiles(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("image has %d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	headers, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := strings.TrimSuffix(h.Name, "/")
		headers[p] = h
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			data[p] = b
		}
	}
	return headers, data
}

func TestTestbox(t *testing.T) {
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skipf("no %s (busybox-static): %v", BusyboxPath, err)
	}
	img, err := Testbox()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if !slices.Equal(cf.Config.Cmd, []string{"/bin/sh"}) {
		t.Errorf("Cmd = %q, want [/bin/sh]", cf.Config.Cmd)
	}
	headers, data := layerFiles(t, img)
	host, err := os.ReadFile(BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if h := headers["bin/busybox"]; h == nil || h.Mode&0o111 == 0 || string(data["bin/busybox"]) != string(host) {
		t.Errorf("bin/busybox missing, not executable or not the host's busybox: %+v", h)
	}
	for _, a := range []string{"sh", "sleep", "echo", "cat", "wget", "nc", "ls", "true", "false"} {
		h := headers["bin/"+a]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s = %+v, want a symlink to busybox", a, h)
		}
	}
	if h := headers["tmp"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("tmp = %+v, want a directory", h)
	}
	// Same inputs, same digest: the lab's mirror does not grow on re-push.
	img2, err := Testbox()
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := img2.Digest()
	if d1 != d2 {
		t.Errorf("two Testbox images differ: %s vs %s", d1, d2)
	}
}

func TestReadStaticRejectsDynamic(t *testing.T) {
	if _, err := readStatic("/bin/ls"); err == nil {
		t.Errorf("readStatic(/bin/ls) = nil error, want 'dynamically linked'")
	}
	if _, err := readStatic(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("readStatic(missing) = nil error")
	}
}

func TestHelloApp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hello-app with the go command")
	}
	ctx := t.Context()
	cache := t.TempDir()
	img, err := HelloApp(ctx, "1.0.0", cache)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/hello-app"}) {
		t.Errorf("Entrypoint = %q, want [/hello-app]", cf.Config.Entrypoint)
	}
	if _, ok := cf.Config.ExposedPorts["8080/tcp"]; !ok || len(cf.Config.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts = %v, want 8080/tcp", cf.Config.ExposedPorts)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	headers, _ := layerFiles(t, img)
	if h := headers["hello-app"]; h == nil || h.Mode&0o111 == 0 || len(headers) != 1 {
		t.Errorf("layer = %v, want only an executable hello-app", headers)
	}

	// Cached: the same version reuses the binary, another version gets its own.
	bins, _ := filepath.Glob(filepath.Join(cache, "hello-app-1.0.0-*"))
	if len(bins) != 1 {
		t.Fatalf("cache holds %v, want one hello-app-1.0.0 binary", bins)
	}
	before, _ := os.Stat(bins[0])
	again, err := HelloApp(ctx, "1.0.0", cache)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(bins[0])
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the cached binary was rebuilt")
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("digest changed on a cached rebuild: %s vs %s", d1, d2)
	}
	img2, err := HelloApp(ctx, "2.0.0", cache)
	if err != nil {
		t.Fatal(err)
	}
	if d3, _ := img2.Digest(); d3 == d1 {
		t.Errorf("1.0.0 and 2.0.0 images have the same digest %s", d1)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 2 {
		t.Errorf("cache holds %d entries, want 2 binaries (no leftover build dirs)", len(entries))
	}

	// The binary answers with the version it was built with.
	out := runHelloApp(t, bins[0])
	host, _ := os.Hostname()
	if want := "Hello, world!\nVersion: 1.0.0\nHostname: " + host + "\n"; out != want {
		t.Errorf("hello-app answered %q, want %q", out, want)
	}
}

// runHelloApp runs the binary on a kernel-chosen loopback port and returns
// its answer to GET /.
func runHelloApp(t *testing.T, bin string) string {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(stderr)
	re := regexp.MustCompile(`serving on \S*:(\d+)`)
	var port string
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			port = m[1]
			break
		}
	}
	if port == "" {
		t.Fatalf("hello-app never said where it serves")
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/", nil)
	resp, err := (&http.Client{Transport: noProxyTransport()}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHelloAppRejectsBadVersion(t *testing.T) {
	for _, v := range []string{"", "1.0 0", "-X", `1"`, "a;b"} {
		if _, err := HelloApp(t.Context(), v, t.TempDir()); err == nil {
			t.Errorf("HelloApp(%q) = nil error", v)
		}
	}
}

func TestPushLabImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hello-app with the go command")
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	if err := PushLabImages(t.Context(), host, sharedCache); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"google-samples/hello-app": {"1.0", "2.0"}, "skiff/testbox": {"1"}}
	for repo, tags := range want {
		r, err := name.NewRepository(host+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.List(r, remote.WithContext(t.Context()))
		if err != nil {
			t.Fatalf("listing %s: %v", repo, err)
		}
		slices.Sort(got)
		if !slices.Equal(got, tags) {
			t.Errorf("tags of %s = %v, want %v", repo, got, tags)
		}
	}
	// 2.0 answers with version 2.0.0: its config names the right binary.
	ref, _ := name.NewTag(host+"/google-samples/hello-app:2.0", name.Insecure)
	img, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != "amd64" || cf.Config.Entrypoint[0] != "/hello-app" {
		t.Errorf("pulled hello-app:2.0 config = %+v", cf.Config)
	}
}

func TestLabImages(t *testing.T) {
	for _, li := range LabImages() {
		ref, err := name.ParseReference(li.Name)
		if err != nil {
			t.Fatalf("%s: %v", li.Name, err)
		}
		// The mirror path is the reference without its registry host.
		if ref.Context().RegistryStr() != MirroredRegistry {
			t.Errorf("%s: registry %s, want %s", li.Name, ref.Context().RegistryStr(), MirroredRegistry)
		}
		if got := ref.Context().RepositoryStr() + ":" + ref.Identifier(); got != li.Repo+":"+li.Tag {
			t.Errorf("%s is mirrored as %s:%s, want %s", li.Name, li.Repo, li.Tag, got)
		}
	}
}

func TestRegistryConfig(t *testing.T) {
	dir := t.TempDir()
	ok := DefaultRegistryConfig()
	ok.Dir = dir
	tests := []struct {
		name    string
		mutate  func(*RegistryConfig)
		wantErr string
	}{
		{"default with dir", func(*RegistryConfig) {}, ""},
		{"netns", func(c *RegistryConfig) { c.NetnsPath, c.Addr = "/run/netns/x", "10.99.0.2:5000" }, ""},
		{"no dir", func(c *RegistryConfig) { c.Dir = "" }, "Dir is empty"},
		{"no port", func(c *RegistryConfig) { c.Addr = "127.0.0.1" }, "missing port"},
		{"host name", func(c *RegistryConfig) { c.Addr = "localhost:5000" }, "IP address"},
		{"relative netns", func(c *RegistryConfig) { c.NetnsPath = "netns" }, "not absolute"},
		{"no binary", func(c *RegistryConfig) { c.Binary = "" }, "Binary is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}

	path, err := WriteRegistryConfig(ok)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`rootdirectory: "` + filepath.Join(dir, "data") + `"`,
		"delete:\n    enabled: true",
		`addr: "127.0.0.1:0"`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("registry config lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "auth:") {
		t.Errorf("registry config has auth:\n%s", b)
	}
}

func TestListeningRE(t *testing.T) {
	line := `time="2026-11-28T10:41:01Z" level=info msg="listening on 127.0.0.1:46355" go.version=go1.19.8`
	m := listeningRE.FindStringSubmatch(line)
	if m == nil || m[1] != "127.0.0.1:46355" {
		t.Errorf("listeningRE on %q = %q, want 127.0.0.1:46355", line, m)
	}
}
