package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/control/apiclient"
	"github.com/skiff-sh/skiff/control/membership"
)

// joinTokenFile holds the join token of a server that was given none.
const joinTokenFile = "join-token"

// JoinToken returns the token the server gossips with: the configured
// one, else the one in its data dir, made (and logged) on first start.
func JoinToken(cfg Config, log *slog.Logger) (string, error) {
	if cfg.JoinToken != "" {
		return cfg.JoinToken, nil
	}
	path := filepath.Join(cfg.DataDir, joinTokenFile)
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("server: join token: %w", err)
	}
	var b [24]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand does not fail on Linux
	token := hex.EncodeToString(b[:])
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("server: join token: %w", err)
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("server: join token: %w", err)
	}
	log.Info("skiff server: made the cluster's join token; give it to the other servers and nodes (--join-token)", "token", token, "file", path)
	return token, nil
}

// startMembership joins the cluster's gossip (when cfg.SerfAddr is set),
// advertising the raft and API addresses (and the Node this server runs).
func startMembership(ctx context.Context, cfg Config, apiURL string, hasRaftState bool) (*membership.Membership, error) {
	if cfg.SerfAddr == "" {
		return nil, nil
	}
	token, err := JoinToken(cfg, cfg.Logger)
	if err != nil {
		return nil, err
	}
	api := apiURL
	if u, err := url.Parse(apiURL); err == nil {
		api = u.Host
	}
	mc := membership.DefaultConfig()
	mc.NodeName, mc.Role, mc.BindAddr, mc.JoinToken, mc.Join = cfg.Name, membership.RoleServer, cfg.SerfAddr, token, cfg.Join
	mc.Logger = cfg.Logger.With("component", "serf")
	mc.SnapshotPath = filepath.Join(cfg.DataDir, "serf.snapshot")
	mc.Tags = map[string]string{membership.TagRaftAddr: cfg.RaftAddr, membership.TagAPIAddr: api}
	if host, _, err := net.SplitHostPort(cfg.SerfAddr); err == nil && net.ParseIP(host) != nil && !net.ParseIP(host).IsUnspecified() {
		mc.Tags[membership.TagSerfAddr] = cfg.SerfAddr
	}
	if cfg.NodeName != "" {
		mc.Tags[membership.TagNodeName] = cfg.NodeName
	}
	if cfg.BootstrapExpect > 0 {
		mc.Tags[membership.TagExpect] = strconv.Itoa(cfg.BootstrapExpect)
	}
	mc.Tags[membership.TagRaftState] = strconv.FormatBool(hasRaftState)
	jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := membership.Start(jctx, mc)
	if err != nil {
		return nil, fmt.Errorf("server: join the cluster's gossip on %s: %w", cfg.SerfAddr, err)
	}
	cfg.Logger.Info("skiff server: gossiping", "serf", m.Addr(), "join", cfg.Join)
	return m, nil
}

// stopMembership leaves the gossip gracefully, so the others see "left",
// not "failed".
func stopMembership(m *membership.Membership, log *slog.Logger) {
	// A server stops without leaving, as Consul's servers do by default: the others see
	// it failed, not gone, and keep it in raft for the dead-server cleanup time, so a
	// restart (a rolling one too) finds its place. `skiff cluster remove` takes a server
	// out for good.
	if err := m.Shutdown(); err != nil {
		log.Warn("stop the gossip", "err", err)
	}
}

// keepKubeconfigServers lists every server's API address (from their Serf tags) in the
// kubeconfig's apiclient.ServersExtension, so clients that fail over (apiclient) know where
// to go when this server is down; it checks every two seconds until ctx ends.
func keepKubeconfigServers(ctx context.Context, path string, m *membership.Membership, log *slog.Logger) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		var servers []string
		for _, s := range m.Servers() {
			if api := s.Tags[membership.TagAPIAddr]; api != "" && s.Status != membership.StatusLeft {
				servers = append(servers, api)
			}
		}
		if len(servers) > 0 {
			if changed, err := apiclient.UpdateKubeconfig(path, servers); err != nil {
				log.Warn("skiff server: list the API servers in the kubeconfig", "err", err)
			} else if changed {
				log.Info("skiff server: kubeconfig lists the API servers", "servers", servers)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
