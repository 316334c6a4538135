package server_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/control/apiserver"
)

// Every member's API reports all three raft members with their own view:
// one leader, followers that the leader heard from, the same term.
func TestClusterStatusThroughEveryMember(t *testing.T) {
	ms := startCluster(t, 3)
	for _, m := range ms {
		var servers []apiserver.ServerStatus
		eventually(t, "status through "+m.cfg.Name, 10*time.Second, func() bool {
			raw, err := m.clientset(t).Discovery().RESTClient().Get().AbsPath(apiserver.StatusPath).DoRaw(t.Context())
			if err != nil {
				t.Logf("status through %s: %v", m.cfg.Name, err)
				return false
			}
			if err := json.Unmarshal(raw, &servers); err != nil {
				t.Fatalf("status through %s: %v: %s", m.cfg.Name, err, raw)
			}
			leaders, contacted := 0, 0
			for _, s := range servers {
				if s.State == "Leader" {
					leaders++
				}
				if s.State == "Follower" && s.LastContactMillis >= 0 {
					contacted++
				}
			}
			return len(servers) == 3 && leaders == 1 && contacted == 2
		})
		for _, s := range servers {
			if !s.Voter || s.Term == 0 || s.Term != servers[0].Term || s.AppliedIndex == 0 || s.CommitIndex < s.AppliedIndex || s.Error != "" {
				t.Errorf("status through %s: %+v", m.cfg.Name, s)
			}
		}
	}
}
