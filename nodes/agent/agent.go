package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-sh/skiff/nodes/network"
	"github.com/skiff-sh/skiff/nodes/podsync"
	"github.com/skiff-sh/skiff/nodes/runtime"
)

// Defaults.
const (
	DefaultLogPort  = 10250
	DefaultMaxPods  = 110
	leaseNamespace  = corev1.NamespaceNodeLease
	leaseDuration   = 40 * time.Second
	renewInterval   = 10 * time.Second
	statusInterval  = 10 * time.Second
	statusReportMax = 5 * time.Minute
)

// Config is what a node daemon needs. Start from DefaultConfig.
type Config struct {
	// NodeName names the Node (default: the hostname).
	NodeName string
	// NodeIP is the node's address other nodes and the API server reach it on.
	NodeIP netip.Addr
	// DataDir holds everything the daemon keeps: containerd's root and
	// state, pod networks, container logs, registry hosts.
	DataDir string
	// API is how the daemon reaches the API server.
	API *rest.Config
	// ContainerdBinary is the containerd to start when none answers on the
	// node's socket ("containerd" from PATH when empty).
	ContainerdBinary string
	// RegistryMirror, if set (host:port, plain HTTP), is where every image
	// comes from: gcr.io, docker.io, registry.k8s.io, quay.io and ghcr.io
	// names are resolved there and nowhere else.
	RegistryMirror string
	// LoggerBinary is the container logging binary (see runtime.Config).
	LoggerBinary string
	// CPU, Memory and MaxPods override the machine's capacity (zero: the
	// machine's, and 110 pods).
	CPU     resource.Quantity
	Memory  resource.Quantity
	MaxPods int
	// LogPort is where container logs are served (default 10250).
	LogPort int
	// LogToken, if set, is the bearer token the log server requires.
	LogToken string
	// Labels are added to the Node's.
	Labels map[string]string
	// Version is reported as the Node's kubeletVersion and kubeProxyVersion.
	Version string
	Logger  *slog.Logger
}

// DefaultConfig returns the defaults; NodeIP, DataDir and API must be set.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{NodeName: host, LogPort: DefaultLogPort, MaxPods: DefaultMaxPods, Version: "v1.37.2-skiff"}
}

// Validate reports what the daemon cannot run with.
func (c Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("a node name is required"))
	}
	if !c.NodeIP.Is4() {
		errs = append(errs, fmt.Errorf("node IP %q must be an IPv4 address", c.NodeIP))
	}
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		errs = append(errs, fmt.Errorf("data dir %q must be an absolute path", c.DataDir))
	}
	if c.API == nil {
		errs = append(errs, errors.New("an API server configuration is required"))
	}
	if c.LogPort <= 0 || c.LogPort > 65535 {
		errs = append(errs, fmt.Errorf("log port %d out of range", c.LogPort))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// Agent is one node daemon.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	client kubernetes.Interface
}

// New checks cfg and connects to the API.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	api := rest.CopyConfig(cfg.API)
	api.UserAgent = "skiff-node/" + cfg.NodeName
	api.QPS, api.Burst = 50, 100
	client, err := kubernetes.NewForConfig(api)
	if err != nil {
		return nil, fmt.Errorf("agent: API client: %w", err)
	}
	return &Agent{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeName), client: client}, nil
}

// Paths inside the data dir.
func (a *Agent) path(elem ...string) string {
	return filepath.Join(append([]string{a.cfg.DataDir}, elem...)...)
}

// Run runs the node until ctx ends. Pods keep running after it returns.
func (a *Agent) Run(ctx context.Context) error {
	for _, d := range []string{"containerd", "network", "logs", "hosts"} {
		if err := os.MkdirAll(a.path(d), 0o700); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
	}
	// Containerd first: the Node reports its version.
	dcfg := runtime.DaemonConfig{
		Root: a.path("containerd", "root"), State: a.path("containerd", "state"),
		Socket: a.path("containerd", "containerd.sock"), Binary: a.cfg.ContainerdBinary,
	}
	daemon, err := runtime.StartDaemon(ctx, dcfg, a.log.With("component", "containerd"))
	if err != nil {
		return fmt.Errorf("agent: containerd: %w", err)
	}
	hostsDir := ""
	if a.cfg.RegistryMirror != "" {
		hostsDir = a.path("hosts")
		if err := runtime.WriteMirrorHosts(hostsDir, a.cfg.RegistryMirror, true, "gcr.io", "docker.io", "registry.k8s.io", "quay.io", "ghcr.io"); err != nil {
			return fmt.Errorf("agent: registry mirror: %w", err)
		}
	}
	rcfg := runtime.DefaultConfig()
	rcfg.Address, rcfg.HostsDir, rcfg.RuncRoot, rcfg.FIFODir = daemon.Socket(), hostsDir, daemon.RuncRoot(), daemon.FIFODir()
	rcfg.LoggerBinary = a.cfg.LoggerBinary
	rt, err := runtime.New(ctx, rcfg, a.log.With("component", "runtime"))
	if err != nil {
		return fmt.Errorf("agent: runtime: %w", err)
	}
	defer rt.Close()

	node, err := a.register(ctx)
	if err != nil {
		return err
	}
	podCIDR, err := a.waitPodCIDR(ctx, node)
	if err != nil {
		return err
	}
	ncfg := network.DefaultConfig()
	ncfg.StateDir, ncfg.PodCIDR, ncfg.NodeIP = a.path("network"), podCIDR, a.cfg.NodeIP
	netm, err := network.New(ncfg, a.log.With("component", "network"))
	if err != nil {
		return fmt.Errorf("agent: pod network: %w", err)
	}
	defer netm.Close()
	if err := netm.EnsureHost(ctx); err != nil {
		return fmt.Errorf("agent: pod network: %w", err)
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	kubeletEvents := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.cfg.NodeName})
	proxyEvents := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: ProxyComponent, Host: a.cfg.NodeName})

	routes := newRouted()
	ctrs := &containers{rt: rt, client: a.client, nodeName: a.cfg.NodeName, cgroupRoot: "/skiff/" + a.cfg.NodeName}
	syncer, err := podsync.New(podsync.Config{
		NodeName: a.cfg.NodeName, NodeIP: a.cfg.NodeIP.String(), Client: a.client,
		Runtime: ctrs, Network: &pods{m: netm}, LogDir: a.path("logs"), Recorder: kubeletEvents,
		Logger: a.log.With("component", "podsync"), Unrouted: routes.unrouted,
	})
	if err != nil {
		return err
	}

	exits := &exitWaiters{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancelCause(ctx)
	defer func() { cancel(nil); wg.Wait() }()
	run := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(ctx); err != nil && ctx.Err() == nil {
				a.log.Error(name+" stopped", "err", err)
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		})
	}
	run("pod sync", syncer.Run)
	run("container exits", func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case e, ok := <-rt.Exits():
				if !ok {
					return nil
				}
				syncer.ContainerExited(e.ID)
				exits.exited(e.ID)
			}
		}
	})
	run("containerd", func(ctx context.Context) error { return a.superviseContainerd(ctx, daemon, dcfg) })
	run("network gc", func(ctx context.Context) error { return a.collectNetworks(ctx, netm) })
	run("lease", a.renewLease)
	run("node status", func(ctx context.Context) error { return a.postStatus(ctx, rt) })
	run("routes", func(ctx context.Context) error { return a.syncRoutes(ctx, netm) })
	run("proxy", func(ctx context.Context) error { return a.runProxy(ctx, proxyEvents, routes) })
	run("log server", func(ctx context.Context) error {
		return a.serveLogs(ctx, &locator{ctrs: ctrs, logDir: a.path("logs"), exits: exits})
	})
	a.log.Info("node daemon running", "pod CIDR", podCIDR, "containerd", daemon.Socket(), "adopted containerd", daemon.Adopted())
	<-ctx.Done()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// superviseContainerd starts containerd again when it stops answering (as
// systemd would restart it): its shims and containers run on, and the
// runtime client reconnects.
func (a *Agent) superviseContainerd(ctx context.Context, d *runtime.Daemon, cfg runtime.DaemonConfig) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	misses := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if d.Answers(ctx) {
			misses = 0
			continue
		}
		if misses++; misses < 2 {
			continue
		}
		a.log.Warn("containerd does not answer; starting it again")
		nd, err := runtime.StartDaemon(ctx, cfg, a.log.With("component", "containerd"))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.log.Error("restart containerd", "err", err)
			continue
		}
		d, misses = nd, 0
	}
}

// networkGC is how often pod networks are checked against the pods.
const networkGC = 5 * time.Minute

// collectNetworks removes what pod sync cannot see: the leftovers of pod
// networks whose setup was cut short (a crash mid-setup) for pods that are
// gone. A pod is live while the API binds it to this node; it is listed
// before the collection, and a pod reaches the node only after the API
// has it, so a setup in progress is never collected.
func (a *Agent) collectNetworks(ctx context.Context, m *network.Manager) error {
	t := time.NewTimer(30 * time.Second) // after pod sync has adopted what runs
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		t.Reset(networkGC)
		list, err := a.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String(),
		})
		if err != nil {
			a.log.Warn("list pods for network gc", "err", err)
			continue
		}
		live := map[string]bool{}
		for _, p := range list.Items {
			live[string(p.UID)] = true
		}
		removed, err := m.GC(ctx, func(uid string) bool { return live[uid] })
		if err != nil {
			a.log.Warn("pod network gc", "err", err)
		}
		if len(removed) > 0 {
			a.log.Info("removed networks of pods that are gone", "pods", removed)
		}
	}
}

// pods adapts the network manager to pod sync.
type pods struct{ m *network.Manager }

func (p *pods) Setup(ctx context.Context, uid string) (podsync.Attachment, error) {
	a, err := p.m.Setup(ctx, uid)
	if err != nil {
		return podsync.Attachment{}, err
	}
	return podsync.Attachment{IP: a.IP, NetnsPath: a.NetnsPath, HostVeth: a.HostVeth}, nil
}

func (p *pods) Teardown(ctx context.Context, uid string) error { return p.m.Teardown(ctx, uid) }

func (p *pods) Attached(ctx context.Context) ([]string, error) {
	as, err := p.m.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.PodUID
	}
	return out, nil
}

// waitPodCIDR waits until the control plane has given the node a pod CIDR.
func (a *Agent) waitPodCIDR(ctx context.Context, node *corev1.Node) (netip.Prefix, error) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	logged := false
	for {
		if node != nil && node.Spec.PodCIDR != "" {
			p, err := netip.ParsePrefix(node.Spec.PodCIDR)
			if err != nil {
				return netip.Prefix{}, fmt.Errorf("agent: node %s has a bad pod CIDR %q: %w", a.cfg.NodeName, node.Spec.PodCIDR, err)
			}
			return p, nil
		}
		if !logged {
			a.log.Info("waiting for the control plane to assign a pod CIDR")
			logged = true
		}
		select {
		case <-ctx.Done():
			return netip.Prefix{}, ctx.Err()
		case <-t.C:
		}
		n, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			a.log.Warn("read own node", "err", err)
			continue
		}
		node = n
	}
}

// logAddr is the log server's listening address.
func (a *Agent) logAddr() string {
	return net.JoinHostPort(a.cfg.NodeIP.String(), strconv.Itoa(a.cfg.LogPort))
}
