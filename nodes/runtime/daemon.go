package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"golang.org/x/sys/unix"
)

// DaemonConfig places one node's containerd.
type DaemonConfig struct {
	Root   string // persistent data (content, snapshots, metadata)
	State  string // runtime state: config, pid file, log, shim bundles, runc state, FIFOs
	Socket string // gRPC socket; the ttrpc socket is Socket+".ttrpc"
	Binary string // containerd binary; "containerd" (from PATH) when empty
	// StartTimeout bounds how long StartDaemon waits for a started daemon to
	// answer; StopTimeout how long Stop waits after SIGTERM before SIGKILL.
	StartTimeout time.Duration
	StopTimeout  time.Duration
	LogLevel     string // containerd's log level, "info" when empty
}

// maxSocketPath is the longest unix socket path (sun_path less the NUL).
const maxSocketPath = 107

func (c *DaemonConfig) setDefaults() {
	if c.Binary == "" {
		c.Binary = "containerd"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 30 * time.Second
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 10 * time.Second
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
}

// Validate reports a configuration StartDaemon cannot use.
func (c DaemonConfig) Validate() error {
	for name, p := range map[string]string{"root": c.Root, "state": c.State, "socket": c.Socket} {
		if p == "" || !filepath.IsAbs(p) {
			return fmt.Errorf("runtime: daemon %s %q must be an absolute path", name, p)
		}
		if strings.ContainsAny(p, "\"\\\n") {
			return fmt.Errorf("runtime: daemon %s %q has a quote, backslash or newline", name, p)
		}
	}
	if n := len(c.Socket) + len(".ttrpc"); n > maxSocketPath {
		return fmt.Errorf("runtime: daemon socket %q is too long (%d bytes with .ttrpc, max %d)", c.Socket, n, maxSocketPath)
	}
	return nil
}

// Daemon is a node's containerd, started or adopted by StartDaemon.
type Daemon struct {
	cfg     DaemonConfig
	logger  *slog.Logger
	pid     int           // 0 when the daemon answering was not started by us
	adopted bool          // it was already running
	exited  chan struct{} // closed when our child exits (nil when adopted)
}

// Socket is the daemon's gRPC socket.
func (d *Daemon) Socket() string { return d.cfg.Socket }

// Pid is the daemon's process id, 0 if unknown (a daemon skiff did not start).
func (d *Daemon) Pid() int { return d.pid }

// Adopted says whether StartDaemon found the daemon already running.
func (d *Daemon) Adopted() bool { return d.adopted }

// RuncRoot is where runc keeps container state for this daemon's shims; pass
// it as Config.RuncRoot so that nothing lands in the global /run/containerd/runc.
func (d *Daemon) RuncRoot() string { return filepath.Join(d.cfg.State, "runc") }

// FIFODir is a directory for exec FIFOs (Config.FIFODir).
func (d *Daemon) FIFODir() string { return filepath.Join(d.cfg.State, "fifo") }

// ConfigPath is the daemon's config.toml.
func (d *Daemon) ConfigPath() string { return configPath(d.cfg) }

// LogPath is the daemon's log file.
func (d *Daemon) LogPath() string { return filepath.Join(d.cfg.State, "containerd.log") }

func configPath(c DaemonConfig) string { return filepath.Join(c.State, "config.toml") }
func pidPath(c DaemonConfig) string    { return filepath.Join(c.State, "containerd.pid") }

// disabledPlugins keeps the daemon to what a node needs: no CRI, no other
// snapshotters (aufs would modprobe), no tracing. (The v1 runtime stays:
// containerd 1.6's tasks service will not load without it.)
var disabledPlugins = []string{
	"io.containerd.grpc.v1.cri",
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.tracing.processor.v1.otlp",
	"io.containerd.internal.v1.tracing",
}

// DaemonConfigTOML is the containerd config StartDaemon writes for c: version
// 2, the gRPC socket as the only listener (ttrpc beside it), overlayfs, runc v2.
func DaemonConfigTOML(c DaemonConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version = 2\nroot = %q\nstate = %q\n", c.Root, c.State)
	b.WriteString("disabled_plugins = [")
	for i, p := range disabledPlugins {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", p)
	}
	b.WriteString("]\n\n")
	fmt.Fprintf(&b, "[grpc]\n  address = %q\n  tcp_address = \"\"\n\n", c.Socket)
	b.WriteString("[ttrpc]\n  address = \"\"\n\n")
	fmt.Fprintf(&b, "[debug]\n  address = \"\"\n  level = %q\n\n", c.LogLevel)
	b.WriteString("[metrics]\n  address = \"\"\n\n")
	fmt.Fprintf(&b, "[plugins.\"io.containerd.internal.v1.opt\"]\n  path = %q\n", filepath.Join(c.Root, "opt"))
	return b.String()
}

// StartDaemon makes sure the node's containerd runs and answers on cfg.Socket.
// A daemon already answering there is adopted, so that a restarted node
// daemon carries on with it and its containers. Otherwise it starts one,
// detached in its own session (it outlives the caller), with its config, pid
// file and log in cfg.State, and waits until it answers.
func StartDaemon(ctx context.Context, cfg DaemonConfig, logger *slog.Logger) (*Daemon, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{cfg: cfg, logger: logger}
	if answers(ctx, cfg.Socket) {
		d.adopted = true
		d.pid = adoptedPid(cfg)
		logger.Info("adopted running containerd", "socket", cfg.Socket, "pid", d.pid)
		return d, nil
	}
	for _, dir := range []string{cfg.Root, cfg.State, filepath.Dir(cfg.Socket), d.RuncRoot(), d.FIFODir()} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, fmt.Errorf("runtime: creating %s for containerd: %w", dir, err)
		}
	}
	if err := os.WriteFile(configPath(cfg), []byte(DaemonConfigTOML(cfg)), 0o644); err != nil {
		return nil, fmt.Errorf("runtime: writing containerd config: %w", err)
	}
	// A socket left by a dead daemon is in the way.
	for _, s := range []string{cfg.Socket, cfg.Socket + ".ttrpc"} {
		if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("runtime: removing stale socket %s: %w", s, err)
		}
	}
	logf, err := os.OpenFile(d.LogPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("runtime: opening containerd log: %w", err)
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(cfg.Binary, "--config", configPath(cfg))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = daemonEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("runtime: starting %s: %w", cfg.Binary, err)
	}
	d.pid = cmd.Process.Pid
	d.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait() // reap; the daemon is not killed when we exit
		close(d.exited)
	}()
	if err := os.WriteFile(pidPath(cfg), []byte(strconv.Itoa(d.pid)+"\n"), 0o644); err != nil {
		d.kill()
		return nil, fmt.Errorf("runtime: writing containerd pid file: %w", err)
	}
	if err := d.waitAnswering(ctx); err != nil {
		d.kill()
		return nil, err
	}
	logger.Info("started containerd", "socket", cfg.Socket, "pid", d.pid)
	return d, nil
}

// daemonEnv is the environment for containerd and so its shims: PATH must
// find containerd-shim-runc-v2 and runc.
func daemonEnv() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			env = append(env, kv)
		}
	}
	path := os.Getenv("PATH")
	for _, p := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if !strings.Contains(":"+path+":", ":"+p+":") {
			path = strings.TrimPrefix(path+":"+p, ":")
		}
	}
	return append(env, "PATH="+path)
}

// waitAnswering waits until the started daemon answers, it exits, or the
// start timeout passes. There is no readiness event to wait on, so it retries
// the connection at a short interval.
func (d *Daemon) waitAnswering(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StartTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if answers(ctx, d.cfg.Socket) {
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("runtime: containerd at %s exited while starting: %s", d.cfg.Socket, logTail(d.LogPath()))
		case <-ctx.Done():
			return fmt.Errorf("runtime: containerd at %s did not answer within %v: %w (log: %s)", d.cfg.Socket, d.cfg.StartTimeout, ctx.Err(), logTail(d.LogPath()))
		case <-tick.C:
		}
	}
}

// answers says whether a containerd serves on socket.
func answers(ctx context.Context, socket string) bool {
	var dl net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := dl.DialContext(dctx, "unix", socket)
	if err != nil {
		return false
	}
	conn.Close()
	c, err := containerd.New(socket, containerd.WithTimeout(2*time.Second))
	if err != nil {
		return false
	}
	defer c.Close()
	ok, err := c.IsServing(dctx)
	return err == nil && ok
}

// Answers reports whether the daemon answers on its socket now.
func (d *Daemon) Answers(ctx context.Context) bool { return answers(ctx, d.cfg.Socket) }

// adoptedPid reads the pid file and checks the process is the containerd of
// this config; 0 otherwise.
func adoptedPid(c DaemonConfig) int {
	b, err := os.ReadFile(pidPath(c))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(configPath(c))) {
		return 0
	}
	return pid
}

// Stop stops the daemon: SIGTERM, then SIGKILL after StopTimeout. Shims and
// containers keep running. Only the lab's teardown and tests stop daemons; a
// node daemon leaves containerd running when it exits.
func (d *Daemon) Stop(ctx context.Context) error {
	if d.pid == 0 {
		return fmt.Errorf("runtime: stopping containerd at %s: pid unknown (not started by skiff)", d.cfg.Socket)
	}
	pidfd, err := unix.PidfdOpen(d.pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return d.stopped()
	}
	if err != nil {
		return fmt.Errorf("runtime: stopping containerd pid %d: %w", d.pid, err)
	}
	defer unix.Close(pidfd)
	if err := unix.PidfdSendSignal(pidfd, unix.SIGTERM, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("runtime: signalling containerd pid %d: %w", d.pid, err)
	}
	gone, err := waitPidfd(ctx, pidfd, d.cfg.StopTimeout)
	if err != nil {
		return fmt.Errorf("runtime: waiting for containerd pid %d: %w", d.pid, err)
	}
	if !gone {
		d.logger.Warn("containerd ignored SIGTERM; killing it", "pid", d.pid, "timeout", d.cfg.StopTimeout)
		if err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("runtime: killing containerd pid %d: %w", d.pid, err)
		}
		if gone, err = waitPidfd(ctx, pidfd, 10*time.Second); err != nil || !gone {
			return fmt.Errorf("runtime: containerd pid %d survived SIGKILL: %v", d.pid, err)
		}
	}
	if d.exited != nil {
		select {
		case <-d.exited: // reaped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return d.stopped()
}

func (d *Daemon) stopped() error {
	d.logger.Info("stopped containerd", "socket", d.cfg.Socket, "pid", d.pid)
	d.pid = 0
	if err := os.Remove(pidPath(d.cfg)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("runtime: removing containerd pid file: %w", err)
	}
	return nil
}

// waitPidfd waits until the process behind pidfd exits (true), timeout
// passes (false) or ctx ends (error).
func waitPidfd(ctx context.Context, pidfd int, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		// Poll in slices so that ctx is noticed.
		ms := int(min(left, 100*time.Millisecond) / time.Millisecond)
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, max(ms, 1))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
}

// kill ends a daemon that failed to start.
func (d *Daemon) kill() {
	if d.pid > 0 {
		_ = syscall.Kill(d.pid, syscall.SIGKILL)
		if d.exited != nil {
			<-d.exited
		}
		_ = os.Remove(pidPath(d.cfg))
	}
}

func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no log: " + err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
