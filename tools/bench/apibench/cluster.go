package apibench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/tools/bench/proc"
)

// clusterSize is the number of servers the benchmark starts.
const clusterSize = 3

// loopback is the only address the benchmark binds or dials.
const loopback = proc.Loopback

const (
	pollInterval  = 100 * time.Millisecond
	readyzTimeout = 2 * time.Second
)

// server is one `skiff server` process and the clients that talk to it.
type server struct {
	*proc.Process
	dataDir   string
	etcdAddr  string // the etcd v3 gRPC API (--client-addr)
	debugAddr string // Go's pprof (--debug-addr); empty when off

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
		name := serverName(i)
		s := &server{dataDir: filepath.Join(spec.dir, name), etcdAddr: addr(1, i)}
		args := []string{
			"server",
			"--name", name,
			"--data-dir", s.dataDir,
			"--raft-addr", addr(0, i),
			"--client-addr", s.etcdAddr,
			"--api-addr", hostPort(0),
			"--serf-addr", "off", // three servers on one loopback; gossip is not measured
			"--peers", strings.Join(peers, ","),
		}
		if spec.debug {
			s.debugAddr = addr(2, i)
			args = append(args, "--debug-addr", s.debugAddr)
		}
		args = append(args, spec.extraArgs...)
		if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
			c.stop()
			return nil, fmt.Errorf("apibench: create data dir of %s: %w", name, err)
		}
		p, err := proc.Start(name, spec.dir, spec.bin, args, nil)
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("apibench: start server %s: %w", name, err)
		}
		s.Process = p
		log.Debug("server started", "server", name, "pid", p.Pid(), "args", args)
		c.servers = append(c.servers, s)
	}
	return c, nil
}

func serverName(i int) string { return fmt.Sprintf("n%d", i+1) }

// describe names the server and quotes the end of its stderr.
func (s *server) describe() string {
	return fmt.Sprintf("--- server %s stderr, last lines ---\n%s", s.Name, s.StderrTail())
}

// stop kills every server and waits for them; it is safe to call more than once.
func (c *cluster) stop() {
	for _, s := range c.servers {
		if err := s.Kill(); err != nil {
			c.log.Error("stop server", "server", s.Name, "err", err)
		}
	}
}

// checkAlive fails if a server we did not kill has exited.
func (c *cluster) checkAlive() error {
	for _, s := range c.servers {
		if exited, err := s.Unexpected(); exited {
			return fmt.Errorf("apibench: server %s exited unexpectedly (%v)\n%s", s.Name, err, s.describe())
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
			return fmt.Errorf("%s: no kubeconfig yet: %w", s.Name, err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return fmt.Errorf("%s: load %s: %w", s.Name, path, err)
		}
		configure(cfg)
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return fmt.Errorf("%s: client for %s: %w", s.Name, cfg.Host, err)
		}
		s.rest, s.kube = cfg, kube
	}
	ctx, cancel := context.WithTimeout(ctx, readyzTimeout)
	defer cancel()
	body, err := s.kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("%s: GET %s/readyz: %w (%s)", s.Name, s.rest.Host, err, strings.TrimSpace(string(body)))
	}
	if string(body) != "ok" {
		return fmt.Errorf("%s: GET %s/readyz = %q, want \"ok\"", s.Name, s.rest.Host, body)
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

// freePorts returns n distinct TCP ports on loopback that the kernel
// reported free.
func freePorts(n int) ([]int, error) {
	ports, err := proc.FreePorts(n)
	if err != nil {
		return nil, fmt.Errorf("apibench: %w", err)
	}
	return ports, nil
}

func hostPort(port int) string { return net.JoinHostPort(loopback, fmt.Sprint(port)) }
