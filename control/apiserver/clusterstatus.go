package apiserver

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"
)

// StatusPath serves every control server's raft status as one server
// gathers it (`skiff cluster status`): a JSON list of ServerStatus.
const StatusPath = "/skiff/v1/status"

// ServerStatus is one raft member as `skiff cluster status` shows it.
type ServerStatus struct {
	Name     string `json:"name"`
	RaftAddr string `json:"raftAddr"`
	// State is raft's: Leader, Follower, Candidate or Shutdown;
	// Unreachable when the member did not answer (Error says why).
	State        string `json:"state"`
	Voter        bool   `json:"voter"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commitIndex"`
	AppliedIndex uint64 `json:"appliedIndex"`
	// LastContactMillis is how long ago the leader last heard from the
	// member, as the leader sees it (0 for the leader; -1 when unknown).
	LastContactMillis int64  `json:"lastContactMillis"`
	Error             string `json:"error,omitempty"`
}

// StatusFunc gathers the servers' status.
type StatusFunc func(ctx context.Context) ([]ServerStatus, error)

type clusterStatus struct {
	gather atomic.Pointer[StatusFunc]
}

// SetStatus makes StatusPath answer with what gather returns.
func (s *Server) SetStatus(gather StatusFunc) { s.status.gather.Store(&gather) }

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "only GET", http.StatusMethodNotAllowed)
		return
	}
	gather := s.status.gather.Load()
	if gather == nil {
		http.Error(w, "this server does not report the cluster's status yet", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	list, err := (*gather)(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list) //nolint:errchkjson // a failed write is the client's loss
}
