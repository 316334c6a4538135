package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/tools/lab/innetns"
)

// ErrNotRunning is returned when a named process is not running.
var ErrNotRunning = errors.New("lab: process not running")

// Process is a long-running process the lab started in a VM.
type Process struct {
	VM      string `json:"vm"`
	Name    string `json:"name"`
	Pid     int    `json:"pid"`
	Running bool   `json:"running"`
	LogPath string `json:"logPath"`
}

var procNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// processEnv is the caller's environment without proxy settings (nothing in
// a VM may use one), followed by extra.
func processEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasSuffix(strings.ToLower(k), "_proxy") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startIn starts cmd inside the network namespace at path: it is forked
// from a thread that has joined the namespace, so it is in it from its
// first instruction (no window where a pid in the pid file is elsewhere).
func startIn(path string, cmd *exec.Cmd) error {
	return innetns.Do(path, cmd.Start)
}

func (l *Lab) pidPath(vm, name string) string { return filepath.Join(l.VMDir(vm), name+".pid") }

// LogPath is where the process name in vm writes stdout and stderr.
func (l *Lab) LogPath(vm, name string) string { return filepath.Join(l.VMDir(vm), name+".log") }

// Start starts argv as a long-running process named name inside vm's
// network namespace, in its own process group, with the caller's
// environment (minus proxies) plus env, in the VM's directory. Its output
// is appended to LogPath(vm, name) and its pid written to <Dir>/<vm>/<name>.pid,
// so Stop and Down work from any process. ctx bounds only the start.
func (l *Lab) Start(ctx context.Context, vm, name string, argv, env []string) error {
	v, err := l.VM(vm)
	if err != nil {
		return err
	}
	if !procNameRE.MatchString(name) {
		return fmt.Errorf("lab: process name %q: want letters, digits and ._-", name)
	}
	if len(argv) == 0 {
		return fmt.Errorf("lab: starting %s in %s: empty command", name, vm)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lab: starting %s in %s: %w", name, vm, err)
	}
	if p, err := l.process(v, name); err == nil && p.Running {
		return fmt.Errorf("lab: %s in %s is already running (pid %d)", name, vm, p.Pid)
	}
	if err := os.MkdirAll(l.VMDir(vm), 0o755); err != nil {
		return fmt.Errorf("lab: creating %s: %w", l.VMDir(vm), err)
	}
	logf, err := os.OpenFile(l.LogPath(vm, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("lab: opening log for %s in %s: %w", name, vm, err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = l.VMDir(vm)
	cmd.Env = processEnv(env)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := startIn(v.NetnsPath(), cmd); err != nil {
		return fmt.Errorf("lab: starting %s in %s (%s): %w", name, vm, strings.Join(argv, " "), err)
	}
	pid := cmd.Process.Pid
	// Reap it when it ends, whoever stops it.
	go func() { _ = cmd.Wait() }()
	if err := os.WriteFile(l.pidPath(vm, name), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return fmt.Errorf("lab: recording pid of %s in %s: %w", name, vm, err)
	}
	l.logger.Info("lab process started", "vm", vm, "name", name, "pid", pid, "argv", argv, "log", l.LogPath(vm, name))
	return nil
}

// readPid reads a pid file; 0 if there is none.
func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("lab: reading %s: %w", path, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("lab: %s does not hold a pid: %q", path, b)
	}
	return pid, nil
}

// alive says whether pid is a live (not zombie) process in the namespace
// with inode ino. Checking the namespace keeps a recycled pid from being
// mistaken for (and signalled as) a lab process.
func alive(pid int, ino uint64) bool {
	got, err := nsIno(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil || got != ino {
		return false
	}
	st, err := procState(pid)
	return err == nil && st != 'Z' && st != 'X'
}

// procState returns the state letter from /proc/pid/stat.
func procState(pid int) (byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("lab: odd /proc/%d/stat", pid)
	}
	return b[i+2], nil
}

// process reports the recorded process name in v.
func (l *Lab) process(v VM, name string) (Process, error) {
	p := Process{VM: v.Name, Name: name, LogPath: l.LogPath(v.Name, name)}
	pid, err := readPid(l.pidPath(v.Name, name))
	if err != nil {
		return p, err
	}
	if pid == 0 {
		return p, fmt.Errorf("%w: no %s recorded in %s", ErrNotRunning, name, v.Name)
	}
	p.Pid = pid
	p.Running = alive(pid, v.NetnsIno)
	return p, nil
}

// Processes lists the processes recorded in vm, running or not, by name.
func (l *Lab) Processes(vm string) ([]Process, error) {
	v, err := l.VM(vm)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(l.VMDir(vm), "*.pid"))
	if err != nil {
		return nil, fmt.Errorf("lab: listing pid files of %s: %w", vm, err)
	}
	sort.Strings(files)
	var out []Process
	for _, f := range files {
		p, err := l.process(v, strings.TrimSuffix(filepath.Base(f), ".pid"))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Stop sends sig to the process name in vm and its process group. It does
// not wait; see Wait and Terminate. ErrNotRunning if it is not running.
func (l *Lab) Stop(vm, name string, sig syscall.Signal) error {
	v, err := l.VM(vm)
	if err != nil {
		return err
	}
	p, err := l.process(v, name)
	if err != nil {
		return err
	}
	if !p.Running {
		return fmt.Errorf("%w: %s in %s (pid %d)", ErrNotRunning, name, vm, p.Pid)
	}
	if err := signalGroup(p.Pid, sig); err != nil {
		return fmt.Errorf("lab: signalling %s in %s (pid %d) with %v: %w", name, vm, p.Pid, sig, err)
	}
	l.logger.Info("lab process signalled", "vm", vm, "name", name, "pid", p.Pid, "signal", sig)
	return nil
}

// signalGroup signals pid's process group if pid leads one, else pid.
func signalGroup(pid int, sig syscall.Signal) error {
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
		return syscall.Kill(-pid, sig)
	}
	return syscall.Kill(pid, sig)
}

// Wait returns once the process name in vm has exited, or ctx is done.
func (l *Lab) Wait(ctx context.Context, vm, name string) error {
	v, err := l.VM(vm)
	if err != nil {
		return err
	}
	p, err := l.process(v, name)
	if err != nil {
		if errors.Is(err, ErrNotRunning) {
			return nil
		}
		return err
	}
	if !p.Running {
		return nil
	}
	if err := waitExit(ctx, p.Pid); err != nil {
		return fmt.Errorf("lab: waiting for %s in %s (pid %d): %w", name, vm, p.Pid, err)
	}
	return nil
}

// Terminate stops the process name in vm as kubelet does: SIGTERM, then
// SIGKILL after the config's StopGrace, and waits for it; then it forgets
// the process (removes its pid file, keeps its log). Not running is fine.
func (l *Lab) Terminate(ctx context.Context, vm, name string) error {
	v, err := l.VM(vm)
	if err != nil {
		return err
	}
	p, err := l.process(v, name)
	if err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	if p.Running {
		if err := l.terminatePid(ctx, p.Pid, true); err != nil {
			return fmt.Errorf("lab: stopping %s in %s (pid %d): %w", name, vm, p.Pid, err)
		}
		l.logger.Info("lab process stopped", "vm", vm, "name", name, "pid", p.Pid)
	}
	if err := os.Remove(l.pidPath(vm, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab: removing pid file of %s in %s: %w", name, vm, err)
	}
	return nil
}

// terminatePid sends SIGTERM (to the group if group), waits StopGrace,
// then SIGKILL, and waits for the exit.
func (l *Lab) terminatePid(ctx context.Context, pid int, group bool) error {
	kill := func(sig syscall.Signal) error {
		var err error
		if group {
			err = signalGroup(pid, sig)
		} else {
			err = syscall.Kill(pid, sig)
		}
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	if err := kill(syscall.SIGTERM); err != nil {
		return err
	}
	graceCtx, cancel := context.WithTimeout(ctx, l.state.Config.StopGrace)
	err := waitExit(graceCtx, pid)
	cancel()
	if err == nil {
		if group {
			_ = kill(syscall.SIGKILL) // stragglers in the group
		}
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	l.logger.Warn("lab process ignored SIGTERM; killing", "pid", pid, "grace", l.state.Config.StopGrace)
	if err := kill(syscall.SIGKILL); err != nil {
		return err
	}
	return waitExit(ctx, pid)
}

// waitExit waits for pid to exit (become a zombie or vanish), using a
// pidfd, which works for processes that are not our children.
func waitExit(ctx context.Context, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	for {
		timeout := 100 * time.Millisecond // a bound for noticing ctx, not a poll of state
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
			timeout = max(time.Until(dl), 0)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(timeout.Milliseconds()))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("polling pidfd of %d: %w", pid, err)
		}
		if n > 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Exec runs argv inside vm's network namespace and returns its combined
// output (e.g. busybox wget or ping, the lab's curl). A non-zero exit is an
// error wrapping *exec.ExitError; the output is returned either way.
func (l *Lab) Exec(ctx context.Context, vm string, argv []string) ([]byte, error) {
	var out bytes.Buffer
	err := l.Run(ctx, vm, argv, nil, &out, &out)
	return out.Bytes(), err
}

// Run runs argv inside vm's network namespace with the given standard
// streams (nil: /dev/null) and waits for it, e.g. for `skiff lab exec`.
// The caller's environment is passed on, without proxy settings.
func (l *Lab) Run(ctx context.Context, vm string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	v, err := l.VM(vm)
	if err != nil {
		return err
	}
	if len(argv) == 0 {
		return fmt.Errorf("lab: exec in %s: empty command", vm)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = processEnv(nil)
	cmd.WaitDelay = 2 * time.Second
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err = startIn(v.NetnsPath(), cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return fmt.Errorf("lab: exec %q in %s: %w", strings.Join(argv, " "), vm, err)
	}
	return nil
}

// Dial connects from inside vm's network namespace to addr (an IP:port).
func (l *Lab) Dial(ctx context.Context, vm, network, addr string) (net.Conn, error) {
	v, err := l.VM(vm)
	if err != nil {
		return nil, err
	}
	conn, err := innetns.Dialer(v.NetnsPath())(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("lab: dialing %s %s from %s: %w", network, addr, vm, err)
	}
	return conn, nil
}

// HTTPClient returns an HTTP client whose requests start inside vm (no proxy,
// IP addresses only).
func (l *Lab) HTTPClient(vm string) (*http.Client, error) {
	v, err := l.VM(vm)
	if err != nil {
		return nil, err
	}
	return innetns.HTTPClient(v.NetnsPath()), nil
}

// sweep stops every process still inside one of the lab's namespaces, or
// whose root is under the lab directory (containers the VMs' runtimes
// started): SIGTERM, StopGrace, SIGKILL. The lab's own recorded processes
// are stopped first; this catches what they left (e.g. containerd shims).
func (l *Lab) sweep(ctx context.Context) error {
	inos := map[uint64]bool{}
	for _, vm := range l.state.VMs {
		if vm.NetnsIno != 0 {
			inos[vm.NetnsIno] = true
		}
	}
	victims := func() []int {
		var out []int
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if st, err := procState(pid); err != nil || st == 'Z' || st == 'X' {
				continue
			}
			if ino, err := nsIno(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && inos[ino] {
				out = append(out, pid)
				continue
			}
			if root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); err == nil && under(root, l.state.Config.Dir) {
				out = append(out, pid)
			}
		}
		return out
	}
	pids := victims()
	if len(pids) == 0 {
		return nil
	}
	l.logger.Info("lab stopping leftover processes", "pids", pids)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	graceCtx, cancel := context.WithTimeout(ctx, l.state.Config.StopGrace)
	for _, pid := range pids {
		_ = waitExit(graceCtx, pid)
	}
	cancel()
	var errs []error
	for _, pid := range victims() {
		l.logger.Warn("lab process ignored SIGTERM; killing", "pid", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if err := waitExit(ctx, pid); err != nil {
			errs = append(errs, fmt.Errorf("lab: waiting for pid %d to die: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}
