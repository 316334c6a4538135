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
	"runtime/debug"
	"strings"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/server"
	"github.com/skiff-sh/skiff/nodes/agent"
)

func runServer(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("skiff server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Name, "name", cfg.Name, "member name, unique in the cluster")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for the raft log and snapshots (required)")
	fs.StringVar(&cfg.RaftAddr, "raft-addr", cfg.RaftAddr, "address members reach this one at for raft")
	fs.StringVar(&cfg.ClientAddr, "client-addr", cfg.ClientAddr, "address of the etcd v3 gRPC API")
	fs.StringVar(&cfg.WasmCache, "wasm-cache", "", "directory keeping compiled policy modules; servers on one machine may share it (default <data-dir>/wasm-cache)")
	fs.StringVar(&cfg.APIAddr, "api-addr", cfg.APIAddr, "address of the Kubernetes API (HTTPS; port 0 picks a free one, written into <data-dir>/kubeconfig)")
	serviceCIDR := fs.String("service-cluster-ip-range", cfg.ServiceCIDR.String(), "IPv4 CIDR that services' cluster IPs come from")
	nodePorts := fs.String("service-node-port-range", fmt.Sprintf("%d-%d", cfg.NodePortMin, cfg.NodePortMax), "range of node ports, lo-hi")
	fs.DurationVar(&cfg.NodeGracePeriod, "node-monitor-grace-period", cfg.NodeGracePeriod, "how long a node may go without renewing its Lease before it is marked lost (Serf notices a dead node sooner)")
	fs.Int64Var(&cfg.DefaultTolerationSeconds, "default-toleration-seconds", cfg.DefaultTolerationSeconds, "how long new pods tolerate a lost node (the not-ready and unreachable NoExecute taints) before eviction, unless they say otherwise; negative: add no toleration")
	fs.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", 0, "form the cluster through Serf: bootstrap raft once this many servers (all started with the same value and --join) are seen; later servers join as non-voters and are promoted when healthy")
	fs.DurationVar(&cfg.DeadServerCleanup, "dead-server-cleanup", cfg.DeadServerCleanup, "how long a server may be failed before the leader removes it from raft (never below quorum)")
	peers := fs.String("peers", "", "every member's raft address, this one included: name=host:port,... (empty: a single-member cluster)")
	fs.Int64Var(&cfg.Store.QuotaBytes, "quota-bytes", cfg.Store.QuotaBytes, "storage quota; writes past it fail with \"database space exceeded\" until a compaction")
	fs.IntVar(&cfg.Store.MaxRequestBytes, "max-request-bytes", cfg.Store.MaxRequestBytes, "largest request accepted")
	fs.DurationVar(&cfg.Store.HeartbeatTimeout, "heartbeat-timeout", cfg.Store.HeartbeatTimeout, "raft heartbeat timeout (failure detection)")
	fs.DurationVar(&cfg.Store.ElectionTimeout, "election-timeout", cfg.Store.ElectionTimeout, "raft election timeout")
	fs.BoolVar(&cfg.Store.NoSync, "unsafe-no-fsync", false, "do not fsync the raft log (as etcd's flag of the same name): an acknowledged write can be lost on power failure; for measurements only")
	fs.Uint64Var(&cfg.Store.SnapshotThreshold, "snapshot-threshold", cfg.Store.SnapshotThreshold, "raft log entries between snapshots (the log before a snapshot is then truncated)")
	fs.DurationVar(&cfg.Store.SnapshotInterval, "snapshot-interval", cfg.Store.SnapshotInterval, "how often to check whether a snapshot is due")
	fs.Uint64Var(&cfg.Store.TrailingLogs, "trailing-logs", cfg.Store.TrailingLogs, "raft log entries kept after a snapshot, for slow followers")
	serfAddr := fs.String("serf-addr", "", "address to gossip on with the other servers and the nodes (Serf) (default: the raft address's host, port 7946; \"off\" disables)")
	join := fs.String("join", "", "Serf addresses of members to join, comma-separated (retried until one answers)")
	fs.StringVar(&cfg.JoinToken, "join-token", "", "the cluster's join token; gossip is encrypted with a key derived from it (default: <data-dir>/join-token, made on first start)")
	withNode := fs.Bool("with-node", false, "also run a node daemon in this process (as k3s servers do), with its data in <data-dir>/node; the node flags below apply")
	var nf nodeFlags
	nf.register(fs, "")
	debugAddr := fs.String("debug-addr", "", "serve Go's /debug/pprof on this address (off when empty)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	if cfg.Peers, err = server.ParsePeers(*peers); err != nil {
		return err
	}
	if cfg.ServiceCIDR, err = netip.ParsePrefix(*serviceCIDR); err != nil {
		return fmt.Errorf("--service-cluster-ip-range: %w", err)
	}
	if _, err := fmt.Sscanf(*nodePorts, "%d-%d", &cfg.NodePortMin, &cfg.NodePortMax); err != nil {
		return fmt.Errorf("--service-node-port-range %q: want lo-hi: %w", *nodePorts, err)
	}
	if *debugAddr != "" {
		stop, err := serveDebug(*debugAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	if os.Getenv("GOGC") == "" {
		// The store keeps its state in memory and allocates per request;
		// collecting less often buys throughput (measured: about +15% puts
		// at 64 clients) for a larger heap. GOGC overrides it.
		debug.SetGCPercent(400)
	}
	cfg.Logger = logger
	cfg.Store.Logger = logger
	cfg.Version = version
	switch *serfAddr {
	case "off":
	case "":
		host, _, err := net.SplitHostPort(cfg.RaftAddr)
		if err != nil {
			return fmt.Errorf("--raft-addr %q: %w", cfg.RaftAddr, err)
		}
		cfg.SerfAddr = net.JoinHostPort(host, "7946")
	default:
		cfg.SerfAddr = *serfAddr
	}
	if *join != "" {
		cfg.Join = strings.Split(*join, ",")
	}
	if !*withNode {
		return server.Run(ctx, cfg)
	}
	return runServerWithNode(ctx, cfg, &nf, logger)
}

// runServerWithNode runs the server and, once it serves, a node daemon
// talking to it; either failing stops both.
func runServerWithNode(ctx context.Context, cfg server.Config, nf *nodeFlags, logger *slog.Logger) error {
	ncfg, err := nf.config(filepath.Join(cfg.DataDir, "node"), "", logger.With("component", "node"))
	if err != nil {
		return err
	}
	cfg.NodeName = ncfg.NodeName // the server's gossip member stands for its node too
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan struct{})
	cfg.Ready = func() { close(ready) }
	nodeErr := make(chan error, 1)
	go func() {
		select {
		case <-ready:
		case <-ctx.Done():
			nodeErr <- nil
			return
		}
		// The daemon runs with a node credential of its own, never the admin
		// token: it asks this server for one with the join token, trusting
		// the CA of the admin kubeconfig (written once the API serves).
		admin, err := clientcmd.BuildConfigFromFlags("", filepath.Join(cfg.DataDir, "kubeconfig"))
		if err != nil {
			nodeErr <- err
			cancel()
			return
		}
		joinToken, err := server.JoinToken(cfg, logger)
		if err == nil {
			ncfg.API, err = joinAsNode(ctx, admin.Host, joinToken, ncfg.NodeName, admin.TLSClientConfig.CAData, ncfg.DataDir, logger)
		}
		if err != nil {
			nodeErr <- fmt.Errorf("node: %w", err)
			cancel()
			return
		}
		ncfg.LogToken = apiserver.LogProxyToken(joinToken)
		a, err := agent.New(ncfg)
		if err == nil {
			err = a.Run(ctx)
		}
		if err != nil {
			err = fmt.Errorf("node: %w", err)
			cancel()
		}
		nodeErr <- err
	}()
	err = server.Run(ctx, cfg)
	cancel()
	return errors.Join(err, <-nodeErr)
}
