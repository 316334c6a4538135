package apiserver

import (
	"encoding/json"
	"net/http"
	"sync/atomic"

	"github.com/skiff-sh/skiff/control/membership"
)

// MembersPath serves the cluster's Serf members as this server sees them
// (`skiff cluster members`): a JSON list of membership.Member.
const MembersPath = "/skiff/v1/members"

// members is how the server lists the gossip's members, once it gossips.
type members struct {
	list atomic.Pointer[func() []membership.Member]
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
