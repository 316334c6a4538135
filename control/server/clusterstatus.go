package server

import (
	"context"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/etcdapi"
)

// gatherStatus returns the StatusPath gatherer: this member's status and,
// asked in parallel, every other member's own (through the Peer service).
// The leader's answer supplies each member's last contact.
func gatherStatus(store *raftstore.Store, fwd *etcdapi.Forwarder) apiserver.StatusFunc {
	return func(ctx context.Context) ([]apiserver.ServerStatus, error) {
		self, err := store.Status(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]apiserver.ServerStatus, len(self.Servers))
		got := make([]*raftstore.Status, len(self.Servers))
		var wg sync.WaitGroup
		for i, sv := range self.Servers {
			out[i] = apiserver.ServerStatus{Name: sv.Name, RaftAddr: sv.RaftAddr, Voter: sv.Voter, LastContactMillis: -1}
			if sv.Name == self.Name {
				got[i] = self
				continue
			}
			wg.Go(func() {
				st, err := fwd.MemberStatus(ctx, sv.Name)
				if err != nil {
					out[i].State, out[i].Error = "Unreachable", err.Error()
					return
				}
				got[i] = st
			})
		}
		wg.Wait()
		var leader *raftstore.Status
		for i, st := range got {
			if st == nil {
				continue
			}
			out[i].State, out[i].Term, out[i].CommitIndex, out[i].AppliedIndex = st.Role, st.Term, st.CommitIndex, st.AppliedIndex
			if st.Role == "Leader" {
				leader = st
				out[i].LastContactMillis = 0
			}
		}
		if leader != nil {
			contact := map[string]time.Time{}
			for _, sv := range leader.Servers {
				contact[sv.Name] = sv.LastContact
			}
			for i := range out {
				if t := contact[out[i].Name]; !t.IsZero() && out[i].State != "Leader" {
					out[i].LastContactMillis = time.Since(t).Milliseconds()
				}
			}
		}
		return out, nil
	}
}
