package apibench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// clusterSize is the number of servers the benchmark starts.
const clusterSize = 3

// loopback is the only address the benchmark binds or dials.
const loopback = "127.0.0.1"

const (
	pollInterval    = 100 * time.Millisecond
	reapTimeout     = 10 * time.Second
	readyzTimeout   = 2 * time.Second
	stderrTailLines = 20
	stderrTailBytes = 8 << 10
)

// server is one `skiff server` process and the clients that talk to it.
type server struct {
	name      string
	dataDir   string
	etcdAddr  string // the etcd v3 gRPC API (--client-addr)
	debugAddr string // Go's pprof (--debug-addr); empty when off
	logDir    string
	cmd       *exec.Cmd
	done      chan struct{} // closed once the process is reaped
	waitErr   error         // valid after done is closed
	killed    bool          // stopped by us, so its exit is expected

	rest *rest.Config // from <data-dir>/kubeconfig, once ready
	kube kubernetes.Interface
}

// cluster is the three servers of a run.
type cluster struct {
	servers []*server
	log     *slog.Logger
}

// clusterSpec says how to start the servers.
type clusterSpec struct {
	bin       string
	dir       string   // each server's data dir and logs go here
	extraArgs []string // appended to every server's flags
	debug     bool     // serve pprof on a free port
}

// startCluster starts the three servers under spec.dir, each in its own
// process group. On error, whatever was started has been stopped again.
func startCluster(spec clusterSpec, log *slog.Logger) (*cluster, error) {
	perServer := 2
	if spec.debug {
		perServer = 3
	}
	ports, err := freePorts(perServer * clusterSize)
	if err != nil {
		return nil, err
	}
	addr := func(kind, i int) string { return hostPort(ports[kind*clusterSize+i]) }
	peers := make([]string, clusterSize)
	for i := range clusterSize {
		peers[i] = serverName(i) + "=" + addr(0, i)
	}
	c := &cluster{log: log}
	for i := range clusterSize {
		s := &server{
			name:     serverName(i),
			dataDir:  filepath.Join(spec.dir, serverName(i)),
			etcdAddr: addr(1, i),
			logDir:   spec.dir,
			done:     make(chan struct{}),
		}
		args := []string{
			"server",
			"--name", s.name,
			"--data-dir", s.dataDir,
			"--raft-addr", addr(0, i),
			"--client-addr", s.etcdAddr,
			"--api-addr", hostPort(0),
			"--peers", strings.Join(peers, ","),
		}
		if spec.debug {
			s.debugAddr = addr(2, i)
			args = append(args, "--debug-addr", s.debugAddr)
		}
		args = append(args, spec.extraArgs...)
		if err := s.start(spec.bin, args); err != nil {
			c.stop()
			return nil, fmt.Errorf("apibench: start server %s: %w", s.name, err)
		}
		log.Debug("server started", "server", s.name, "pid", s.cmd.Process.Pid, "args", args)
		c.servers = append(c.servers, s)
	}
	return c, nil
}

func serverName(i int) string { return fmt.Sprintf("n%d", i+1) }

// start runs bin in its own process group, so that killing the group takes
// any children with it, and asks the kernel to kill it should we die.
func (s *server) start(bin string, args []string) error {
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	stdout, err := os.Create(s.logPath("stdout"))
	if err != nil {
		return fmt.Errorf("create stdout log: %w", err)
	}
	defer stdout.Close()
	stderr, err := os.Create(s.logPath("stderr"))
	if err != nil {
		return fmt.Errorf("create stderr log: %w", err)
	}
	defer stderr.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", bin, err)
	}
	s.cmd = cmd
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	return nil
}

func (s *server) logPath(stream string) string {
	return filepath.Join(s.logDir, s.name+"."+stream+".log")
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to the server's process group and waits until it is reaped.
func (s *server) kill() error {
	s.killed = true
	if s.exited() {
		return nil
	}
	if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("apibench: kill process group %d of %s: %w", s.cmd.Process.Pid, s.name, err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(reapTimeout):
		return fmt.Errorf("apibench: %s (pid %d) not reaped %v after SIGKILL", s.name, s.cmd.Process.Pid, reapTimeout)
	}
}

// describe names the server and quotes the end of its stderr.
func (s *server) describe() string {
	return fmt.Sprintf("--- server %s stderr, last lines ---\n%s", s.name, tail(s.logPath("stderr")))
}

// tail returns the last lines of the file at path, for error messages.
func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > stderrTailBytes {
		if _, err := f.Seek(-stderrTailBytes, io.SeekEnd); err != nil {
			return fmt.Sprintf("(read log: %v)", err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > stderrTailLines {
		lines = lines[len(lines)-stderrTailLines:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "(empty)"
	}
	return strings.Join(lines, "\n")
}

// stop kills every server and waits for them; it is safe to call more than once.
func (c *cluster) stop() {
	for _, s := range c.servers {
		if err := s.kill(); err != nil {
			c.log.Error("stop server", "server", s.name, "err", err)
		}
	}
}

// checkAlive fails if a server we did not kill has exited.
func (c *cluster) checkAlive() error {
	for _, s := range c.servers {
		if !s.killed && s.exited() {
			return fmt.Errorf("apibench: server %s exited unexpectedly (%v)\n%s", s.name, s.waitErr, s.describe())
		}
	}
	return nil
}

// waitReady waits, for at most timeout, until every server has written its
// kubeconfig and answers /readyz with "ok" through a client built from it;
// configure adjusts each client's rest.Config first.
func (c *cluster) waitReady(ctx context.Context, timeout time.Duration, configure func(*rest.Config)) error {
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lastErr := make([]error, len(c.servers))
	for {
		if err := c.checkAlive(); err != nil {
			return err
		}
		var wg sync.WaitGroup
		for i, s := range c.servers {
			wg.Go(func() { lastErr[i] = s.ready(dctx, configure) })
		}
		wg.Wait()
		if errors.Join(lastErr...) == nil {
			c.log.Info("servers ready", "after", time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-dctx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("apibench: wait for the servers: %w", err)
			}
			return c.notReadyError(timeout, lastErr)
		case <-time.After(pollInterval):
		}
	}
}

// ready builds the server's client once its kubeconfig exists and fails
// unless /readyz answers "ok".
func (s *server) ready(ctx context.Context, configure func(*rest.Config)) error {
	if s.kube == nil {
		path := filepath.Join(s.dataDir, "kubeconfig")
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s: no kubeconfig yet: %w", s.name, err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return fmt.Errorf("%s: load %s: %w", s.name, path, err)
		}
		configure(cfg)
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return fmt.Errorf("%s: client for %s: %w", s.name, cfg.Host, err)
		}
		s.rest, s.kube = cfg, kube
	}
	ctx, cancel := context.WithTimeout(ctx, readyzTimeout)
	defer cancel()
	body, err := s.kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("%s: GET %s/readyz: %w (%s)", s.name, s.rest.Host, err, strings.TrimSpace(string(body)))
	}
	if string(body) != "ok" {
		return fmt.Errorf("%s: GET %s/readyz = %q, want \"ok\"", s.name, s.rest.Host, body)
	}
	return nil
}

func (c *cluster) notReadyError(timeout time.Duration, lastErr []error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "apibench: servers not ready after %v:", timeout)
	for _, err := range lastErr {
		if err != nil {
			fmt.Fprintf(&b, "\n  %v", err)
		}
	}
	for i, s := range c.servers {
		if lastErr[i] != nil {
			b.WriteString("\n")
			b.WriteString(s.describe())
		}
	}
	return errors.New(b.String())
}

// freePorts returns n distinct TCP ports on loopback that the kernel reported
// free. All listeners stay open until every port is known, so none repeats; a
// process may still take one before a server binds it, which startup then
// reports as a server that exited.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", hostPort(0))
		if err != nil {
			return nil, fmt.Errorf("apibench: pick a free port on %s: %w", loopback, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func hostPort(port int) string { return net.JoinHostPort(loopback, fmt.Sprint(port)) }
