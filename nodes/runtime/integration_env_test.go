//go:build integration

package runtime_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/nodes/podlogs"
	"github.com/skiff-sh/skiff/nodes/runtime"
)

// TestMain lets the test binary act as the container logging binary when
// the shim runs it under podlogs.LoggerName.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == podlogs.LoggerName {
		podlogs.LoggerMain()
	}
	os.Exit(m.Run())
}

// env is a containerd, a registry and a Runtime, all in one temp dir.
type env struct {
	dir      string
	dcfg     runtime.DaemonConfig
	daemon   *runtime.Daemon
	rt       *runtime.Runtime
	cfg      runtime.Config
	registry string // host:port
	exits    *exitBook
	logger   *slog.Logger
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc", "docker-registry", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s: %v", bin, err)
		}
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	requireRoot(t)
	// Short paths: unix sockets are limited to 107 bytes.
	dir, err := os.MkdirTemp("/tmp", "skrt")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	_, runContainerdExisted := os.Stat("/run/containerd")
	t.Cleanup(func() {
		unmountUnder(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
		// The shims put their sockets in /run/containerd/s whatever the state
		// dir; remove the directories if this test created them and they are empty.
		if runContainerdExisted != nil {
			os.Remove("/run/containerd/s")
			os.Remove("/run/containerd")
		}
	})
	e.registry = startRegistry(t, filepath.Join(dir, "registry"))
	pushTestImages(t, e.registry)
	hosts := filepath.Join(dir, "hosts")
	if err := runtime.WriteMirrorHosts(hosts, e.registry, true, "gcr.io"); err != nil {
		t.Fatal(err)
	}
	// The logging binary: this test binary under the logger's name.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logger := filepath.Join(dir, podlogs.LoggerName)
	if err := os.Symlink(self, logger); err != nil {
		t.Fatal(err)
	}

	e.dcfg = runtime.DaemonConfig{Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "c.sock")}
	e.startDaemon(t)
	t.Cleanup(func() { e.teardownContainerd(t) })

	e.cfg = runtime.DefaultConfig()
	e.cfg.Address = e.daemon.Socket()
	e.cfg.Namespace = randID("skiff-test")
	e.cfg.HostsDir = hosts
	e.cfg.RuncRoot = e.daemon.RuncRoot()
	e.cfg.FIFODir = e.daemon.FIFODir()
	e.cfg.LoggerBinary = logger
	e.rt, err = runtime.New(t.Context(), e.cfg, e.logger)
	if err != nil {
		t.Fatal(err)
	}
	e.exits = newExitBook(e.rt.Exits())
	t.Cleanup(func() { e.rt.Close() })
	return e
}

func (e *env) startDaemon(t *testing.T) {
	t.Helper()
	d, err := runtime.StartDaemon(t.Context(), e.dcfg, e.logger)
	if err != nil {
		t.Fatal(err)
	}
	e.daemon = d
}

// teardownContainerd deletes every container (starting the daemon again if a
// test left it stopped), stops the daemon and kills shims that outlived it.
func (e *env) teardownContainerd(t *testing.T) {
	ctx := context.Background()
	d, err := runtime.StartDaemon(ctx, e.dcfg, e.logger)
	if err != nil {
		t.Errorf("restarting containerd for cleanup: %v", err)
	} else {
		cfg := e.cfg
		cfg.Address = d.Socket()
		if rt, err := runtime.New(ctx, cfg, e.logger); err == nil {
			cs, _ := rt.List(ctx)
			for _, c := range cs {
				if err := rt.Delete(ctx, c.ID); err != nil {
					t.Errorf("cleanup: deleting %s: %v", c.ID, err)
				}
			}
			rt.Close()
		}
		// Containers without a cgroup parent live under /<namespace>/<id>;
		// runc removes <id>, the namespace level is ours.
		if err := runtime.RemoveCgroup("/" + e.cfg.Namespace); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := d.Stop(ctx); err != nil {
			t.Errorf("cleanup: stopping containerd: %v", err)
		}
	}
	// Shims name our socket in their arguments.
	for _, pid := range pidsWithArg(e.dcfg.Socket) {
		t.Errorf("cleanup: shim pid %d outlived its containers; killing it", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func pidsWithArg(arg string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(arg)) && bytes.Contains(b, []byte("containerd-shim")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unmountUnder unmounts everything mounted below dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("reading mountinfo: %v", err)
		return
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mps = append(mps, f[4])
		}
	}
	sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	for _, mp := range mps {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			t.Errorf("unmounting %s: %v", mp, err)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startRegistry runs Debian's docker-registry on a free loopback port.
func startRegistry(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	// No readiness event: retry the API root briefly.
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("docker-registry exited: %s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry at %s did not answer: %v", addr, err)
		}
	}
}

// busyboxLayer is /bin/busybox with symlinks for the applets the tests use.
func busyboxLayer(t *testing.T) v1.Layer {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "tmp/", "etc/", "proc/", "sys/", "dev/"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	for _, app := range []string{"sh", "sleep", "echo", "cat", "hostname", "readlink", "true", "false", "ls", "kill", "dd", "head"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + app, Linkname: "busybox", Mode: 0o777})
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return layer
}

// pushTestImages pushes skiff-test/box:1 (CMD sh) and skiff-test/box:stopsig
// (STOPSIGNAL SIGINT) to the registry.
func pushTestImages(t *testing.T, registry string) {
	t.Helper()
	layer := busyboxLayer(t)
	base, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	for tag, cfg := range map[string]v1.Config{
		"1":       {Env: []string{"PATH=/bin", "FROM_IMAGE=yes"}, Cmd: []string{"sh"}, WorkingDir: "/tmp"},
		"stopsig": {Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}, StopSignal: "SIGINT"},
	} {
		img, err := mutate.ConfigFile(base, &v1.ConfigFile{Architecture: goruntime.GOARCH, OS: "linux", Config: cfg,
			RootFS: v1.RootFS{Type: "layers", DiffIDs: mustDiffIDs(t, layer)}})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(registry+"/skiff-test/box:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("pushing %s: %v", ref, err)
		}
	}
}

func mustDiffIDs(t *testing.T, l v1.Layer) []v1.Hash {
	h, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	return []v1.Hash{h}
}

// exitBook collects exits from Runtime.Exits by container.
type exitBook struct {
	mu      sync.Mutex
	byID    map[string][]runtime.Exit
	changed chan struct{}
}

func newExitBook(ch <-chan runtime.Exit) *exitBook {
	b := &exitBook{byID: map[string][]runtime.Exit{}, changed: make(chan struct{})}
	go func() {
		for ex := range ch {
			b.mu.Lock()
			b.byID[ex.ID] = append(b.byID[ex.ID], ex)
			close(b.changed)
			b.changed = make(chan struct{})
			b.mu.Unlock()
		}
	}()
	return b
}

// wait returns the first exit of id, failing after timeout.
func (b *exitBook) wait(t *testing.T, id string, timeout time.Duration) runtime.Exit {
	t.Helper()
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		exs, ch := b.byID[id], b.changed
		b.mu.Unlock()
		if len(exs) > 0 {
			return exs[0]
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no exit reported for %s within %v", id, timeout)
		}
	}
}

func (b *exitBook) count(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byID[id])
}
