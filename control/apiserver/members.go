package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/membership"
)

// MembersPath serves the cluster's Serf members as this server sees them
// (`skiff cluster members`): a JSON list of membership.Member.
const MembersPath = "/skiff/v1/members"

// RemovePath is `skiff cluster remove NAME`: POST with ?name=NAME forces a
// server that is not alive out of the gossip and the raft configuration.
const RemovePath = "/skiff/v1/remove"

// Errors a RemoveFunc reports for the client's mistakes.
var (
	ErrServerAlive  = errors.New("server is alive")
	ErrNoSuchServer = errors.New("no such server")
)

// RemoveFunc removes a server from the cluster.
type RemoveFunc func(ctx context.Context, name string) error

// SetRemove makes RemovePath call remove.
func (s *Server) SetRemove(remove RemoveFunc) { s.members.remove.Store(&remove) }

func (s *Server) serveRemove(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "only POST", http.StatusMethodNotAllowed)
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "name the server to remove: ?name=NAME")
		return
	}
	remove := s.members.remove.Load()
	if remove == nil {
		http.Error(w, "this server cannot remove servers yet", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	err := (*remove)(ctx, name)
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "server %s removed from the gossip; the leader removes it from raft\n", name)
	case errors.Is(err, ErrServerAlive):
		writeStatus(w, http.StatusConflict, metav1.StatusReasonConflict, err.Error())
	case errors.Is(err, ErrNoSuchServer):
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, err.Error())
	default:
		writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, err.Error())
	}
}

// members is how the server lists the gossip's members, once it gossips.
type members struct {
	list   atomic.Pointer[func() []membership.Member]
	remove atomic.Pointer[RemoveFunc]
}

// SetMembers makes MembersPath answer with list (the server's Membership.Members).
func (s *Server) SetMembers(list func() []membership.Member) { s.members.list.Store(&list) }

func (s *Server) serveMembers(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "only GET", http.StatusMethodNotAllowed)
		return
	}
	list := s.members.list.Load()
	if list == nil {
		http.Error(w, "this server runs without Serf membership (start it with --serf-addr)", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode((*list)()) //nolint:errchkjson // a failed write is the client's loss
}
