package apiserver

import (
	"context"
	"errors"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/pki"
)

// Users and groups, in Kubernetes' words.
const (
	// AdminUser is who the admin token authenticates: everything is allowed.
	AdminUser = "admin"
	// NodeUserPrefix + NAME is who node NAME's credential authenticates.
	NodeUserPrefix = "system:node:"
	// NodesGroup is every node's group.
	NodesGroup = "system:nodes"
	// MastersGroup is the admin's group (allowed everything).
	MastersGroup = "system:masters"
)

// user is who a request comes from.
type user struct {
	name   string
	groups []string
	node   string // for a node's credential: its name
}

type userKey struct{}

// userOf is who the request was authenticated as; false on public paths
// reached without credentials.
func userOf(ctx context.Context) (user, bool) {
	u, ok := ctx.Value(userKey{}).(user)
	return u, ok
}

// isPublic reports paths served without credentials.
func isPublic(path string) bool {
	return public[path] || path == NodeCredentialsPath
}

// authenticate lets public paths through and requires a known bearer token
// everywhere else: the admin token (user "admin") or a node's credential
// (user "system:node:NAME", group "system:nodes").
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPublic(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		token = strings.TrimSpace(token)
		if !ok || token == "" {
			writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
			return
		}
		var u user
		if pki.TokenMatches(token, s.cfg.AdminTokenHash) {
			u = user{name: AdminUser, groups: []string{MastersGroup, "system:authenticated"}}
		} else {
			node, err := s.creds.Authenticate(r.Context(), token)
			switch {
			case errors.Is(err, ErrUnknownCredential):
				writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
				return
			case err != nil:
				s.cfg.Logger.Warn("check a node credential", "path", r.URL.Path, "err", err)
				writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "unable to check the credential now; retry")
				return
			}
			u = user{name: NodeUserPrefix + node, groups: []string{NodesGroup, "system:authenticated"}, node: node}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

// authorize lets the admin do anything and a node what authorizeNode
// allows; anything else is a 403 Status.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := userOf(r.Context()); ok && u.node != "" {
			if err := s.authorizeNode(r, u); err != nil {
				writeError(w, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
