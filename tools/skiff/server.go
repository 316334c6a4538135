package main

import (
	"context"
	"flag"
	"io"

	"github.com/skiff-sh/skiff/control/server"
)

func runServer(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("skiff server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Name, "name", cfg.Name, "member name, unique in the cluster")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for the raft log and snapshots (required)")
	fs.StringVar(&cfg.RaftAddr, "raft-addr", cfg.RaftAddr, "address members reach this one at for raft")
	fs.StringVar(&cfg.ClientAddr, "client-addr", cfg.ClientAddr, "address of the etcd v3 gRPC API")
	peers := fs.String("peers", "", "every member's raft address, this one included: name=host:port,... (empty: a single-member cluster)")
	fs.Int64Var(&cfg.Store.QuotaBytes, "quota-bytes", cfg.Store.QuotaBytes, "storage quota; writes past it fail with \"database space exceeded\" until a compaction")
	fs.IntVar(&cfg.Store.MaxRequestBytes, "max-request-bytes", cfg.Store.MaxRequestBytes, "largest request accepted")
	fs.DurationVar(&cfg.Store.HeartbeatTimeout, "heartbeat-timeout", cfg.Store.HeartbeatTimeout, "raft heartbeat timeout (failure detection)")
	fs.DurationVar(&cfg.Store.ElectionTimeout, "election-timeout", cfg.Store.ElectionTimeout, "raft election timeout")
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
	cfg.Logger = logger
	cfg.Store.Logger = logger
	return server.Run(ctx, cfg)
}
