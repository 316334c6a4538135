package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/control/apiclient"
	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/membership"
	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/nodes/agent"
	"github.com/skiff-sh/skiff/nodes/podlogs"
	"github.com/skiff-sh/skiff/nodes/podlogs/loggerbin"
)

// nodeFlags are the node daemon's flags, shared by `skiff node` and
// `skiff server --with-node`.
type nodeFlags struct {
	cfg            agent.Config
	nodeIP         string
	cpu, memory    string
	kubeconfig     string
	containerdPath string
}

func (f *nodeFlags) register(fs *flag.FlagSet, prefix string) {
	f.cfg = agent.DefaultConfig()
	fs.StringVar(&f.cfg.NodeName, prefix+"node-name", f.cfg.NodeName, "the Node's name (default: the hostname)")
	fs.StringVar(&f.nodeIP, prefix+"node-ip", "", "the node's IPv4 address, reachable from the other nodes and the API servers (required)")
	fs.StringVar(&f.cfg.RegistryMirror, prefix+"registry-mirror", "", "host:port of a plain-HTTP registry every image is pulled from (gcr.io, docker.io, registry.k8s.io, quay.io, ghcr.io)")
	fs.StringVar(&f.containerdPath, prefix+"containerd", "", "containerd binary started when none runs for this node (default: containerd from PATH)")
	fs.StringVar(&f.cpu, prefix+"cpu", "", "CPU capacity to report, e.g. 4 or 3500m (default: the machine's)")
	fs.StringVar(&f.memory, prefix+"memory", "", "memory capacity to report, e.g. 8Gi (default: the machine's)")
	fs.IntVar(&f.cfg.MaxPods, prefix+"max-pods", f.cfg.MaxPods, "pods this node takes")
	fs.IntVar(&f.cfg.LogPort, prefix+"log-port", f.cfg.LogPort, "port the node serves container logs on, to the API servers")
}

// config completes the agent's configuration: dataDir is the node's own
// directory, kubeconfig how it reaches the API ("": set API later). The
// caller sets LogToken.
func (f *nodeFlags) config(dataDir, kubeconfig string, logger *slog.Logger) (agent.Config, error) {
	cfg := f.cfg
	var err error
	if cfg.NodeIP, err = netip.ParseAddr(f.nodeIP); err != nil {
		return cfg, fmt.Errorf("--node-ip %q: %w", f.nodeIP, err)
	}
	if f.cpu != "" {
		if cfg.CPU, err = resource.ParseQuantity(f.cpu); err != nil {
			return cfg, fmt.Errorf("--cpu: %w", err)
		}
	}
	if f.memory != "" {
		if cfg.Memory, err = resource.ParseQuantity(f.memory); err != nil {
			return cfg, fmt.Errorf("--memory: %w", err)
		}
	}
	if cfg.DataDir, err = filepath.Abs(dataDir); err != nil {
		return cfg, err
	}
	if kubeconfig != "" {
		if cfg.API, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
			return cfg, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
	}
	cfg.ContainerdBinary = f.containerdPath
	if cfg.LoggerBinary, err = loggerBinary(cfg.DataDir); err != nil {
		return cfg, err
	}
	cfg.Version = "v1.37.2-skiff-" + version
	cfg.Logger = logger
	return cfg, nil
}

// loggerBinary is the container logging binary containerd's shims run to
// write container logs: the small one embedded by `make build`, installed
// in <data-dir>/bin, else a link named skiff-container-logger to this
// binary (main dispatches on the name), which starts slower.
func loggerBinary(dataDir string) (string, error) {
	if path, err := loggerbin.Install(filepath.Join(dataDir, "bin")); err == nil {
		return path, nil
	} else if !errors.Is(err, loggerbin.ErrNotBuilt) {
		return "", err
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("container logger: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", fmt.Errorf("container logger: %w", err)
	}
	link := filepath.Join(dataDir, "bin", podlogs.LoggerName)
	if cur, err := os.Readlink(link); err == nil && cur == exe {
		return link, nil
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return "", fmt.Errorf("container logger: %w", err)
	}
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(exe, tmp); err != nil {
		return "", fmt.Errorf("container logger: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return "", fmt.Errorf("container logger: %w", err)
	}
	return link, nil
}

func runNode(ctx context.Context, args []string, stderr io.Writer) error {
	var nf nodeFlags
	fs := flag.NewFlagSet("skiff node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf.register(fs, "")
	dataDir := fs.String("data-dir", "", "directory for the node's containerd, pod networks and logs (required)")
	server := fs.String("server", "", "URL of an API server (https://host:port): the node gets its own credential there with --join-token and writes <data-dir>/kubeconfig (instead of --kubeconfig)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig to reach the cluster with, as is (instead of --server)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	join := fs.String("join", "", "Serf addresses of cluster members to join, comma-separated (gossip is off without it)")
	joinToken := fs.String("join-token", "", "the cluster's join token (a server's <data-dir>/join-token); required with --server and --join")
	serfAddr := fs.String("serf-addr", "", "address to gossip on (default: --node-ip, port 7946)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *dataDir == "":
		return errors.New("--data-dir is required")
	case (*server == "") == (*kubeconfig == ""):
		return errors.New("give either --server (with --join-token) or --kubeconfig")
	case *server != "" && *joinToken == "":
		return errors.New("--server needs --join-token")
	case *join != "" && *joinToken == "":
		return errors.New("--join needs --join-token")
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := nf.config(*dataDir, *kubeconfig, logger)
	if err != nil {
		return err
	}
	switch {
	case *server != "":
		if cfg.API, err = joinAsNode(ctx, *server, *joinToken, cfg.NodeName, nil, cfg.DataDir, logger); err != nil {
			return err
		}
		go learnServers(ctx, cfg.API, logger)
		cfg.LogToken = apiserver.LogProxyToken(*joinToken)
	case *joinToken != "":
		cfg.LogToken = apiserver.LogProxyToken(*joinToken)
	default:
		// The API servers present a token derived from the join token to the
		// log server; without it, `kubectl logs` cannot reach this node.
		logger.Warn("skiff node: no --join-token, so the API servers cannot read this node's logs")
		cfg.LogToken = cfg.API.BearerToken
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	if *join != "" {
		mc := membership.DefaultConfig()
		mc.NodeName, mc.Role, mc.JoinToken, mc.Join = cfg.NodeName, membership.RoleNode, *joinToken, strings.Split(*join, ",")
		mc.BindAddr = *serfAddr
		if mc.BindAddr == "" {
			mc.BindAddr = net.JoinHostPort(cfg.NodeIP.String(), "7946")
		}
		mc.Tags = map[string]string{membership.TagNodeName: cfg.NodeName, membership.TagIP: cfg.NodeIP.String()}
		mc.Logger = logger.With("component", "serf")
		m, err := membership.Start(ctx, mc)
		if err != nil {
			return fmt.Errorf("join the cluster's gossip: %w", err)
		}
		defer func() {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			m.Leave(lctx) //nolint:errcheck // leaving is best effort; Shutdown follows
			m.Shutdown()  //nolint:errcheck // see above
		}()
	}
	return a.Run(ctx)
}

// joinAsNode gets the node's own credential from the API server at server
// with the join token (trusting caPEM, or the CA the server proves it holds
// the join token for), retrying while the server cannot be reached or
// answers 5xx, until ctx ends or two minutes pass. It writes the
// credential into <dataDir>/kubeconfig (CA pinned) and returns the client
// configuration for it.
func joinAsNode(ctx context.Context, server, joinToken, node string, caPEM []byte, dataDir string, log *slog.Logger) (*rest.Config, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	wait := 200 * time.Millisecond
	for {
		cred, err := apiserver.RequestNodeCredential(ctx, server, joinToken, node, caPEM)
		if err == nil {
			path := filepath.Join(dataDir, "kubeconfig")
			if err := pki.WriteKubeconfig(path, "skiff", cred.Server, []byte(cred.CACert), cred.Token); err != nil {
				return nil, fmt.Errorf("node credential: %w", err)
			}
			log.Info("skiff node: got the node's credential", "server", cred.Server, "user", apiserver.NodeUserPrefix+node, "kubeconfig", path)
			api, err := clientcmd.BuildConfigFromFlags("", path)
			if err != nil {
				return nil, fmt.Errorf("node credential: kubeconfig %s: %w", path, err)
			}
			// Fail over between the API servers, learned from the one joined
			// (learnServers).
			return apiclient.Wrap(api, nil), nil
		}
		var st apierrors.APIStatus
		if errors.As(err, &st) && st.Status().Code < 500 {
			return nil, fmt.Errorf("node credential: %w", err) // a wrong join token or name: final
		}
		if errors.Is(err, apiserver.ErrUntrustedCA) {
			return nil, fmt.Errorf("node credential: %w", err)
		}
		log.Info("skiff node: waiting for the API server to issue the node's credential", "server", server, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("node credential from %s: %w (last error: %v)", server, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// learnServers keeps the node's client aware of every API server (apiclient.Learn) until
// ctx ends, so the node fails over when the server it joined through is down.
func learnServers(ctx context.Context, api *rest.Config, log *slog.Logger) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		if err := apiclient.Learn(ctx, api, apiserver.MembersPath); err != nil && ctx.Err() == nil {
			log.Debug("skiff node: learn the API servers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
