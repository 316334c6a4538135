// Package server runs a Skiff control node. Today that is one member of the
// replicated store: raft over TCP between members, and the store's etcd v3
// gRPC API (with the members' forwarding service) for clients. The API
// server, controllers and scheduler join it in later work.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/fieldmanager"
	"github.com/skiff-sh/skiff/control/membership"
	"github.com/skiff-sh/skiff/control/nodelifecycle"
	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/etcdapi"
	"github.com/skiff-sh/skiff/site"
)

// Config is a control node's configuration. Start from DefaultConfig.
type Config struct {
	// Name is the member's name, unique in the cluster.
	Name string
	// SerfAddr, if set, is where this server gossips with the other
	// servers and the nodes (Serf); "" runs without membership.
	SerfAddr string
	// Join are Serf addresses of members to join (retried until one answers).
	Join []string
	// JoinToken is the cluster's join token: the gossip key derives from
	// it. Empty: the one in <DataDir>/join-token, made on first start.
	JoinToken string
	// BootstrapExpect, if positive, forms the raft cluster through Serf:
	// raft is bootstrapped once this many servers, all started with the
	// same value, are seen (Peers must be empty). A server that finds an
	// existing cluster is added as a non-voter by the leader instead.
	BootstrapExpect int
	// DeadServerCleanup is how long a server may be failed in Serf before
	// the leader removes it from raft (never below quorum).
	DeadServerCleanup time.Duration
	// Autopilot says when a non-voter is promoted.
	Autopilot membership.AutopilotConfig
	// NodeName, if set, is the Node this server also runs (--with-node),
	// advertised in its Serf tags.
	NodeName string
	// WasmCache keeps the compiled policy modules (default
	// <DataDir>/wasm-cache); servers of one machine may share one.
	WasmCache string
	// DataDir holds the raft log and snapshots.
	DataDir string
	// RaftAddr is where members reach this one (listen and advertise).
	RaftAddr string
	// ClientAddr serves the etcd v3 gRPC API and member forwarding.
	ClientAddr string
	// APIAddr serves the Kubernetes API over HTTPS (port 0: any free port;
	// the kubeconfig names the one chosen).
	APIAddr string
	// Version is Skiff's build version, reported by /version.
	Version string
	// Peers maps every member's name to its raft address, this one
	// included. Empty means a single-member cluster.
	Peers map[string]string
	// ServiceCIDR is where services' cluster IPs come from; NodePortMin and
	// NodePortMax bound node ports.
	ServiceCIDR              netip.Prefix
	NodePortMin, NodePortMax int
	// NodeGracePeriod is how long a node may go without renewing its Lease
	// before the node lifecycle controller declares it lost (Serf's failure
	// detection is faster where there is Serf).
	NodeGracePeriod time.Duration
	// DefaultTolerationSeconds is how long new pods tolerate a lost node
	// before they are evicted, unless they say otherwise.
	DefaultTolerationSeconds int64
	// Store holds the store's tuning; its Name, Dir, Transport, Bootstrap,
	// ClientURL and Forwarder are filled in by Run.
	Store  raftstore.Config
	Logger *slog.Logger
	// Ready, if set, is called once the node serves clients.
	Ready func()
}

// wasmCache is where compiled policy modules are kept.
func (c Config) wasmCache() string {
	if c.WasmCache != "" {
		return c.WasmCache
	}
	return filepath.Join(c.DataDir, "wasm-cache")
}

// DefaultConfig returns a single-member node on loopback.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Name:        host,
		RaftAddr:    "127.0.0.1:2380",
		ClientAddr:  "127.0.0.1:2379",
		APIAddr:     "127.0.0.1:6443",
		Version:     "dev",
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"),
		NodePortMin: 30000, NodePortMax: 32767,
		NodeGracePeriod:          nodelifecycle.DefaultConfig().GracePeriod,
		DefaultTolerationSeconds: resources.DefaultTolerationSeconds,
		DeadServerCleanup:        2 * time.Minute,
		Autopilot:                membership.DefaultAutopilotConfig(),
		Store:                    raftstore.DefaultConfig(),
		Logger:                   slog.Default(),
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("server: --name is required")
	case c.DataDir == "":
		return errors.New("server: --data-dir is required")
	case c.RaftAddr == "":
		return errors.New("server: --raft-addr is required")
	case c.BootstrapExpect < 0:
		return fmt.Errorf("server: --bootstrap-expect %d is negative", c.BootstrapExpect)
	case c.BootstrapExpect > 0 && len(c.Peers) > 0:
		return errors.New("server: --bootstrap-expect and --peers exclude each other: the first forms the cluster through Serf, the second names it")
	case c.BootstrapExpect > 0 && c.SerfAddr == "":
		return errors.New("server: --bootstrap-expect needs Serf (--serf-addr)")
	case c.DeadServerCleanup <= 0:
		return fmt.Errorf("server: --dead-server-cleanup %v must be positive", c.DeadServerCleanup)
	case c.NodeGracePeriod <= 0:
		return fmt.Errorf("server: --node-monitor-grace-period %v must be positive", c.NodeGracePeriod)
	case c.ClientAddr == "":
		return errors.New("server: --client-addr is required")
	case c.APIAddr == "":
		return errors.New("server: --api-addr is required")
	}
	if len(c.Peers) > 0 {
		addr, ok := c.Peers[c.Name]
		if !ok {
			return fmt.Errorf("server: --peers does not name this member %q", c.Name)
		}
		if addr != c.RaftAddr {
			return fmt.Errorf("server: --peers gives %s=%s but --raft-addr is %s", c.Name, addr, c.RaftAddr)
		}
	}
	return nil
}

// ParsePeers reads "name=host:port,name=host:port".
func ParsePeers(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		name, addr = strings.TrimSpace(name), strings.TrimSpace(addr)
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("server: peer %q: want name=host:port", part)
		}
		if err := checkHostPort(addr); err != nil {
			return nil, fmt.Errorf("server: peer %q: %w", part, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("server: peer %q named twice", name)
		}
		out[name] = addr
	}
	return out, nil
}

// checkHostPort accepts host:port with a host and a port in 1..65535.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q: port must be a number from 1 to 65535", addr)
	}
	return nil
}

// Run serves until ctx ends, then shuts down in order: clients first, then
// the store.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger.With("member", cfg.Name)
	if cfg.SerfAddr != "" {
		token, err := JoinToken(cfg, cfg.Logger)
		if err != nil {
			return err
		}
		cfg.JoinToken = token
	}
	stream := &tcpStream{}
	if cfg.JoinToken != "" {
		// Raft between members is mutual TLS with certificates of the peer CA the join
		// token makes: no token, no raft.
		var err error
		if stream.serverTLS, stream.clientTLS, err = pki.PeerTLS(cfg.JoinToken, cfg.Name, time.Now()); err != nil {
			return fmt.Errorf("server: raft TLS: %w", err)
		}
	} else {
		log.Warn("skiff server: no join token (no Serf, no --join-token): raft runs without TLS")
	}
	raftLn, err := net.Listen("tcp", cfg.RaftAddr)
	if err != nil {
		return fmt.Errorf("server: listen for raft on %s: %w", cfg.RaftAddr, err)
	}
	advertise, err := net.ResolveTCPAddr("tcp", cfg.RaftAddr)
	if err != nil {
		raftLn.Close()
		return fmt.Errorf("server: raft address %s: %w", cfg.RaftAddr, err)
	}
	stream.Listener, stream.advertise = raftLn, advertise
	if stream.serverTLS != nil {
		stream.Listener = tls.NewListener(raftLn, stream.serverTLS)
	}
	trans := raft.NewNetworkTransportWithLogger(stream, 3, 10*time.Second, raftstore.NewHclog(log.With("component", "raft-transport")))
	clientLn, err := net.Listen("tcp", cfg.ClientAddr)
	if err != nil {
		trans.Close()
		return fmt.Errorf("server: listen for clients on %s: %w", cfg.ClientAddr, err)
	}
	apiLn, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		clientLn.Close()
		trans.Close()
		return fmt.Errorf("server: listen for the API on %s: %w", cfg.APIAddr, err)
	}

	// The store's gRPC port (the etcd API and the members' forwarding) is mutual TLS too
	// when raft is: etcd clients need a certificate of the peer CA (pki.PeerTLS).
	var fwdOpts []grpc.DialOption
	var grpcOpts []grpc.ServerOption
	clientScheme := "http://"
	if stream.clientTLS != nil {
		fwdOpts = append(fwdOpts, grpc.WithTransportCredentials(credentials.NewTLS(stream.clientTLS.Clone())))
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(stream.serverTLS.Clone())))
		clientScheme = "https://"
	}
	fwd := etcdapi.NewForwarder(fwdOpts...)
	sc := cfg.Store
	sc.Name = cfg.Name
	sc.Dir = cfg.DataDir
	sc.Transport = trans
	sc.ClientURL = clientScheme + clientLn.Addr().String()
	sc.Forwarder = fwd
	sc.Logger = cfg.Logger
	sc.Bootstrap, sc.ClusterID = bootstrap(cfg)
	store, err := raftstore.Open(ctx, sc)
	if err != nil {
		apiLn.Close()
		clientLn.Close()
		trans.Close()
		return err
	}
	fwd.SetStore(store)
	gs := etcdapi.NewServer(store, grpcOpts...)
	serveErr := make(chan error, 3) // the gRPC and API servers, the policy load
	go func() { serveErr <- gs.Serve(clientLn) }()
	log.Info("skiff server: store serving", "raft", cfg.RaftAddr, "clients", clientLn.Addr().String(), "peers", len(cfg.Peers), "data", cfg.DataDir)

	// Serf first: with --bootstrap-expect raft forms through it, and the API
	// waits for the store.
	feed := newMemberFeed(cfg.SerfAddr != "")
	members, err := startMembership(ctx, cfg, apiURL(apiLn), raftHasState(store))
	if err != nil {
		apiLn.Close()
		gs.Stop()
		_ = fwd.Close()
		return errors.Join(err, store.Close())
	}
	if members != nil {
		feed.set(members)
		defer stopMembership(members, log)
		if cfg.BootstrapExpect > 0 {
			go bootstrapWhenExpected(ctx, store, members, cfg.BootstrapExpect, log)
		}
		pilot := &autopilot{store: store, fwd: fwd, members: members, cfg: cfg.Autopilot, removeAfter: cfg.DeadServerCleanup, log: log.With("component", "autopilot")}
		store.OnLeader(pilot.run)
	}
	api, apiAddr, err := startAPI(ctx, cfg, store, apiLn, serveErr, feed)
	switch {
	case err != nil && ctx.Err() != nil:
		err = nil // asked to stop before the API was up
	case err != nil:
		err = fmt.Errorf("server: start the API: %w", err)
	default:
		log.Info("skiff server: API serving", "addr", apiAddr, "kubeconfig", filepath.Join(cfg.DataDir, "kubeconfig"))
		api.SetStatus(gatherStatus(store, fwd))
		api.SetRemove(func(ctx context.Context, name string) error { return requestRemoval(ctx, store, members, name) })
		if members != nil {
			api.SetMembers(members.Members)
			go keepKubeconfigServers(ctx, filepath.Join(cfg.DataDir, "kubeconfig"), members, log)
		}
		if cfg.Ready != nil {
			cfg.Ready()
		}
		select {
		case <-ctx.Done():
		case err = <-serveErr:
			err = fmt.Errorf("server: serve: %w", err)
		case err = <-store.Fatal():
			log.Error("skiff server: stopping", "err", err)
		}
	}
	log.Info("skiff server: shutting down")
	if api != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = api.Shutdown(sctx)
		cancel()
	}
	handOverLeadership(store, log)
	// Unary calls get a moment to finish; watch and keep-alive streams
	// never end by themselves, so then they are cut and clients resume on
	// another member.
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(time.Second):
		gs.Stop()
	}
	_ = fwd.Close()
	if cerr := store.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("server: close store: %w", cerr)
	}
	return err
}

// handOverLeadership transfers the leadership, if this member has it, to the
// most up-to-date follower before it stops, so the cluster does not wait for an
// election timeout.
func handOverLeadership(store *raftstore.Store, log *slog.Logger) {
	if store.Raft().State() != raft.Leader { // a leader still getting ready hands over too
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if servers, err := store.Servers(ctx); err != nil || !slices.ContainsFunc(servers, func(s raftstore.Server) bool { return s.Voter && s.Name != store.Name() }) {
		return // no one to hand it to
	}
	start := time.Now()
	if err := store.TransferLeadership(ctx, ""); err != nil {
		log.Warn("skiff server: hand over the leadership", "err", err)
		return
	}
	log.Info("skiff server: handed over the leadership", "took", time.Since(start).Round(time.Millisecond))
}

// apiURL is the address the API listener is reached at (loopback for a
// wildcard listener).
func apiURL(ln net.Listener) string {
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// bootstrap is the initial raft configuration and the cluster ID derived
// from it: every member of a new cluster computes the same ones. A server
// that forms the cluster through Serf (--bootstrap-expect) or joins one
// (--join without --peers) starts with none; the cluster ID then derives from
// the join token the members share.
func bootstrap(cfg Config) ([]raft.Server, uint64) {
	if len(cfg.Peers) == 0 && (cfg.BootstrapExpect > 0 || len(cfg.Join) > 0) {
		h := fnv.New64a()
		fmt.Fprintf(h, "token=%s", cfg.JoinToken)
		return nil, h.Sum64() >> 1
	}
	peers := cfg.Peers
	if len(peers) == 0 {
		peers = map[string]string{cfg.Name: cfg.RaftAddr}
	}
	names := make([]string, 0, len(peers))
	for n := range peers {
		names = append(names, n)
	}
	sort.Strings(names)
	h := fnv.New64a()
	var servers []raft.Server
	for _, n := range names {
		servers = append(servers, raft.Server{ID: raft.ServerID(n), Address: raft.ServerAddress(peers[n]), Suffrage: raft.Voter})
		fmt.Fprintf(h, "%s=%s,", n, peers[n])
	}
	return servers, h.Sum64() >> 1
}

// tcpStream is raft's StreamLayer over a listener we opened ourselves, so a
// busy port is reported before raft starts; with TLS configurations it is
// mutual TLS (the listener is then a TLS listener).
type tcpStream struct {
	net.Listener
	advertise            net.Addr
	serverTLS, clientTLS *tls.Config
}

func (t *tcpStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.Dial("tcp", string(addr))
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if t.clientTLS == nil {
		return conn, nil
	}
	tc := tls.Client(conn, t.clientTLS)
	hctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("server: raft TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

func (t *tcpStream) Addr() net.Addr { return t.advertise }

// startAPI waits for the cluster secrets (the first server creates them),
// issues this server's certificate, writes <data-dir>/kubeconfig and serves
// the Kubernetes API on ln. Serve errors go to errs.
func startAPI(ctx context.Context, cfg Config, store *raftstore.Store, ln net.Listener, errs chan<- error, feed *memberFeed) (*apiserver.Server, string, error) {
	// The first server writes the secrets once the cluster has a leader: within a minute
	// when the members are named, whenever the expected servers have all started when
	// the cluster forms through Serf.
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	if cfg.BootstrapExpect > 0 || (len(cfg.Peers) == 0 && len(cfg.Join) > 0) {
		sctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	ca, token, err := clusterSecrets(sctx, store, time.Now())
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	addr := ln.Addr().(*net.TCPAddr)
	hosts := []string{"localhost", "127.0.0.1", addr.IP.String()}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	cert, err := ca.IssueServing(cfg.Name, hosts, time.Now())
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	url := apiURL(ln)
	if err := pki.WriteKubeconfig(filepath.Join(cfg.DataDir, "kubeconfig"), "skiff", url, ca.CertPEM, token); err != nil {
		ln.Close()
		return nil, "", err
	}
	ropts := resources.DefaultOptions(store)
	ropts.ServiceCIDR, ropts.NodePortMin, ropts.NodePortMax, ropts.Logger = cfg.ServiceCIDR, cfg.NodePortMin, cfg.NodePortMax, cfg.Logger
	ropts.WasmCacheDir = cfg.wasmCache()
	ropts.DefaultTolerationSeconds = cfg.DefaultTolerationSeconds
	served, err := resources.All(ropts)
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	reg := registry.NewRegistry(store, served)
	fields, err := fieldmanager.New()
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	reg.TrackFields(fields)
	api, err := apiserver.New(apiserver.Config{
		Store: store, Certificate: cert, AdminTokenHash: pki.TokenHash(token), SkiffVersion: cfg.Version,
		// Nodes get their own credentials with the join token (credentials.go);
		// their log servers accept a token derived from it.
		JoinTokenHash: joinTokenHash(cfg), CACert: ca.CertPEM,
		NodeToken: logProxyToken(cfg),
		Registry:  reg, Fields: fields, Logger: cfg.Logger,
		UI: site.Handler(site.Config{Logger: cfg.Logger, ReadModule: func(ctx context.Context, digest string) ([]byte, error) {
			return resources.ReadModule(ctx, store, digest)
		}}),
	})
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	if err := api.EnsureNamespaces(sctx); err != nil {
		ln.Close()
		return nil, "", err
	}
	go func() {
		if err := api.Serve(ln); err != nil {
			errs <- err
		}
	}()
	// The API serves while the policy modules compile (seconds, unless
	// cached); the controllers start once they are loaded.
	go func() {
		policies, err := loadPolicies(ctx, cfg.wasmCache(), cfg.Logger)
		if err != nil {
			if ctx.Err() == nil {
				errs <- err
			}
			return
		}
		runControllers(store, reg, policies, controllerConfig{nodeGrace: cfg.NodeGracePeriod, members: feed}, cfg.Logger)
	}()
	return api, url, nil
}
