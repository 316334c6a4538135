package testimages

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/skiff-sh/skiff/tools/lab/innetns"
)

// RegistryConfig says where a registry keeps its data and listens.
type RegistryConfig struct {
	// Dir holds the written config (registry.yml), the blobs (data/) and the
	// log (registry.log).
	Dir string
	// Addr is the IP:port to listen on; port 0 lets the kernel choose
	// (Registry.Addr reports the port).
	Addr string
	// NetnsPath, if set, is a network namespace (e.g. /run/netns/skiff-reg)
	// the registry runs in. Addr is inside it.
	NetnsPath string
	// Binary is the docker-registry executable.
	Binary string
}

// DefaultRegistryConfig listens on a kernel-chosen loopback port with
// Debian's docker-registry; Dir must still be set.
func DefaultRegistryConfig() RegistryConfig {
	return RegistryConfig{Addr: "127.0.0.1:0", Binary: "/usr/bin/docker-registry"}
}

// Validate reports the first problem with c.
func (c RegistryConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("testimages: registry config: Dir is empty")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("testimages: registry config: Addr %q: %w", c.Addr, err)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("testimages: registry config: Addr %q: host must be an IP address", c.Addr)
	}
	if port == "" {
		return fmt.Errorf("testimages: registry config: Addr %q: no port", c.Addr)
	}
	if c.Binary == "" {
		return errors.New("testimages: registry config: Binary is empty")
	}
	if c.NetnsPath != "" && !filepath.IsAbs(c.NetnsPath) {
		return fmt.Errorf("testimages: registry config: NetnsPath %q is not absolute", c.NetnsPath)
	}
	return nil
}

// RegistryYAML returns the docker-registry configuration for c: filesystem
// storage in Dir/data, no auth, deletes enabled, text logs on stderr.
func RegistryYAML(c RegistryConfig) []byte {
	secret := make([]byte, 16)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	return []byte(fmt.Sprintf(`# Written by skiff (tools/testimages); rewritten on every start.
version: 0.1
log:
  level: info
  formatter: text
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %q
  secret: %s
  headers:
    X-Content-Type-Options: [nosniff]
`, filepath.Join(c.Dir, "data"), c.Addr, hex.EncodeToString(secret)))
}

// WriteRegistryConfig validates c, creates Dir and writes the registry
// configuration into it. It returns the configuration file's path, to run
// as `docker-registry serve PATH`.
func WriteRegistryConfig(c RegistryConfig) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, "data"), 0o755); err != nil {
		return "", fmt.Errorf("testimages: creating registry directory %s: %w", c.Dir, err)
	}
	path := filepath.Join(c.Dir, "registry.yml")
	if err := os.WriteFile(path, RegistryYAML(c), 0o600); err != nil {
		return "", fmt.Errorf("testimages: writing registry config %s: %w", path, err)
	}
	return path, nil
}

// Registry is a running docker-registry started by StartRegistry.
type Registry struct {
	cfg    RegistryConfig
	addr   string
	cmd    *exec.Cmd
	logger *slog.Logger
	exited chan struct{} // closed once the process is reaped
	copied chan struct{} // closed once its output is copied to the log
	err    error         // Wait's result, set before exited closes
	stop   sync.Once
}

var listeningRE = regexp.MustCompile(`listening on (\S+?)"?(\s|$)`)

// StartRegistry starts docker-registry as configured and returns once it
// answers GET /v2/. The registry runs in its own process group until Stop.
func StartRegistry(ctx context.Context, cfg RegistryConfig, logger *slog.Logger) (*Registry, error) {
	path, err := WriteRegistryConfig(cfg)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(cfg.Dir, "registry.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testimages: opening registry log %s: %w", logPath, err)
	}
	argv := []string{cfg.Binary, "serve", path}
	pr, pw, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("testimages: creating registry output pipe: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = cfg.Dir
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := cmd.Start
	if cfg.NetnsPath != "" {
		// Forked from a thread inside the namespace, so it listens there.
		start = func() error { return innetns.Do(cfg.NetnsPath, cmd.Start) }
	}
	if err := start(); err != nil {
		logFile.Close()
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("testimages: starting %s: %w", strings.Join(argv, " "), err)
	}
	pw.Close()
	r := &Registry{cfg: cfg, cmd: cmd, logger: logger, exited: make(chan struct{}), copied: make(chan struct{})}
	logger.Info("registry starting", "pid", cmd.Process.Pid, "addr", cfg.Addr, "netns", cfg.NetnsPath, "log", logPath)

	// Copy the output to the log, and pick the bound address out of it.
	listening := make(chan string, 1)
	go func() {
		defer close(r.copied)
		defer logFile.Close()
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case listening <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(logFile, pr)
	}()
	go func() {
		r.err = cmd.Wait()
		close(r.exited)
	}()

	fail := func(err error) (*Registry, error) {
		_ = r.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%w (log %s:\n%s)", err, logPath, tail(logPath, 20))
	}
	select {
	case addr := <-listening:
		r.addr = addr
	case <-r.exited:
		return fail(fmt.Errorf("testimages: registry exited before listening: %v", r.err))
	case <-ctx.Done():
		return fail(fmt.Errorf("testimages: waiting for the registry to listen on %s: %w", cfg.Addr, ctx.Err()))
	}
	if err := WaitRegistry(ctx, r.Client(), r.addr); err != nil {
		return fail(err)
	}
	logger.Info("registry ready", "addr", r.addr)
	return r, nil
}

// Addr is the registry's IP:port, with the real port when the config said 0.
func (r *Registry) Addr() string { return r.addr }

// LogPath is the file the registry logs to.
func (r *Registry) LogPath() string { return filepath.Join(r.cfg.Dir, "registry.log") }

// Transport returns an HTTP transport that reaches the registry: one dialing
// from inside its network namespace if it has one. It never uses a proxy.
func (r *Registry) Transport() http.RoundTripper {
	if r.cfg.NetnsPath != "" {
		return innetns.Transport(r.cfg.NetnsPath)
	}
	return noProxyTransport()
}

// Client returns an HTTP client using Transport.
func (r *Registry) Client() *http.Client { return &http.Client{Transport: r.Transport()} }

// Stop ends the registry: SIGTERM to its process group, SIGKILL when ctx is
// done first. It returns once the process is reaped; calling it again is fine.
func (r *Registry) Stop(ctx context.Context) error {
	r.stop.Do(func() {
		pgid := r.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-ctx.Done():
			r.logger.Warn("registry did not stop on SIGTERM; killing", "pid", pgid)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-r.exited
		}
		// The group may still hold stragglers sharing the output pipe.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-r.copied
		r.logger.Info("registry stopped", "addr", r.addr)
	})
	return nil
}

// WaitRegistry polls http://addr/v2/ through client until it answers 200, or
// ctx is done. The registry binds before it serves, so this is short.
func WaitRegistry(ctx context.Context, client *http.Client, addr string) error {
	url := "http://" + addr + "/v2/"
	delay := 10 * time.Millisecond
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("testimages: building request for %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("testimages: waiting for registry %s: %w (last: %v)", url, ctx.Err(), last)
		case <-t.C:
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// noProxyTransport is http.DefaultTransport without a proxy: registry
// traffic goes to lab or loopback addresses only.
func noProxyTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return t
}

// tail returns the last n lines of the file at path, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
