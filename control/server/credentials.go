package server

import (
	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/pki"
)

// Node credentials (issue 6): nodes prove the cluster's join token to the
// API (apiserver.NodeCredentialsPath) and get a bearer token of their own,
// kept hashed in the store (apiserver.NodeCredentials). The API servers reach
// the nodes' log servers with a token derived from the same join token
// (apiserver.LogProxyToken), which every node can derive too.

// nodeJoinToken is the join token node credentials are issued against: the
// configured one, else the data directory's (made on first start, also when
// the server runs without Serf). "" (logged) if it cannot be had: then no
// node credentials are issued.
func nodeJoinToken(cfg Config) string {
	token, err := JoinToken(cfg, cfg.Logger)
	if err != nil {
		cfg.Logger.Warn("skiff server: no join token, so no node credentials are issued", "err", err)
		return ""
	}
	return token
}

// joinTokenHash is apiserver.Config.JoinTokenHash.
func joinTokenHash(cfg Config) string {
	token := nodeJoinToken(cfg)
	if token == "" {
		return ""
	}
	return pki.TokenHash(token)
}

// logProxyToken is apiserver.Config.NodeToken.
func logProxyToken(cfg Config) string {
	return apiserver.LogProxyToken(nodeJoinToken(cfg))
}
