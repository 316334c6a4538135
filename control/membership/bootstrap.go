package membership

import (
	"slices"
	"strconv"
	"strings"
)

// Peer is one server of the initial raft configuration.
type Peer struct {
	Name     string // raft server ID (the member name)
	RaftAddr string // raft transport address, from TagRaftAddr
}

// ShouldBootstrap decides, as Nomad's and Consul's maybeBootstrap do,
// whether the servers seen through Serf may bootstrap raft now, and with
// which configuration. It says yes only when:
//   - expect is positive and this server has no raft state (raftHasState);
//   - no server member, in any status, reports TagRaftState "true" (a
//     cluster already exists: join it instead);
//   - at least expect servers are alive (as Consul, all of them go into the
//     configuration: servers started together beyond the expected number do
//     not wait forever);
//   - every alive server advertises TagExpect equal to expect and a
//     TagRaftAddr.
//
// The peers are sorted by name, so every server that sees the same members
// computes the same configuration; bootstrapping the same configuration on
// several servers is harmless in raft.
func ShouldBootstrap(expect int, servers []Member, raftHasState bool) ([]Peer, bool) {
	if expect <= 0 || raftHasState {
		return nil, false
	}
	var peers []Peer
	want := strconv.Itoa(expect)
	for _, s := range servers {
		if s.Role != RoleServer {
			continue
		}
		if s.Tags[TagRaftState] == "true" {
			return nil, false
		}
		if s.Status != StatusAlive {
			continue
		}
		if s.Tags[TagExpect] != want || s.Tags[TagRaftAddr] == "" {
			return nil, false
		}
		peers = append(peers, Peer{Name: s.Name, RaftAddr: s.Tags[TagRaftAddr]})
	}
	if len(peers) < expect {
		return nil, false
	}
	slices.SortFunc(peers, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(peers); i++ {
		if peers[i].Name == peers[i-1].Name {
			return nil, false
		}
	}
	return peers, true
}
