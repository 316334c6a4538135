// Package proc runs the server processes of Skiff's benchmarks: each in its
// own process group with its output in log files, killed with its group and
// reaped, and killed by the kernel should the benchmark die. It also picks
// free loopback ports for them.
package proc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Loopback is the only address the benchmarks bind or dial.
const Loopback = "127.0.0.1"

const (
	reapTimeout = 10 * time.Second
	tailLines   = 20
	tailBytes   = 8 << 10
)

// Process is one started server process.
type Process struct {
	Name   string
	logDir string
	cmd    *exec.Cmd
	done   chan struct{} // closed once the process is reaped
	err    error         // its wait error, valid after done is closed
	killed bool          // stopped by us, so its exit is expected
}

// Start runs bin with args (and env, nil for this process's) in its own
// process group, writing its stdout and stderr to <logDir>/<name>.<stream>.log.
func Start(name, logDir, bin string, args, env []string) (*Process, error) {
	p := &Process{Name: name, logDir: logDir, done: make(chan struct{})}
	stdout, err := os.Create(p.LogPath("stdout"))
	if err != nil {
		return nil, fmt.Errorf("create stdout log: %w", err)
	}
	defer stdout.Close()
	stderr, err := os.Create(p.LogPath("stderr"))
	if err != nil {
		return nil, fmt.Errorf("create stderr log: %w", err)
	}
	defer stderr.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", bin, err)
	}
	p.cmd = cmd
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath is the file of one output stream ("stdout", "stderr").
func (p *Process) LogPath(stream string) string {
	return filepath.Join(p.logDir, p.Name+"."+stream+".log")
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Unexpected returns the wait error of a process that ended without being
// killed, or nil.
func (p *Process) Unexpected() (bool, error) {
	if p.killed || !p.Exited() {
		return false, nil
	}
	return true, p.err
}

// Kill sends SIGKILL to the process group and waits until the process is
// reaped.
func (p *Process) Kill() error {
	p.killed = true
	if p.Exited() {
		return nil
	}
	if err := syscall.Kill(-p.Pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d of %s: %w", p.Pid(), p.Name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(reapTimeout):
		return fmt.Errorf("%s (pid %d) not reaped %v after SIGKILL", p.Name, p.Pid(), reapTimeout)
	}
}

// StderrTail returns the last lines the process wrote to stderr, for error
// messages.
func (p *Process) StderrTail() string {
	f, err := os.Open(p.LogPath("stderr"))
	if err != nil {
		return fmt.Sprintf("(no stderr log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > tailBytes {
		if _, err := f.Seek(-tailBytes, io.SeekEnd); err != nil {
			return fmt.Sprintf("(read stderr log: %v)", err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(read stderr log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "(stderr is empty)"
	}
	return strings.Join(lines, "\n")
}

// FreePorts returns n distinct TCP ports on Loopback that the kernel
// reported free. All listeners stay open until every port is known, so none
// repeats; a process may still take one before a server binds it, which
// startup then reports as a server that exited.
func FreePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(Loopback, "0"))
		if err != nil {
			return nil, fmt.Errorf("pick a free port on %s: %w", Loopback, err)
		}
		ls = append(ls, l)
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			return nil, errors.New("listener address is not TCP")
		}
		ports = append(ports, addr.Port)
	}
	return ports, nil
}
