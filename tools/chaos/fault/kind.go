package fault

import (
	"fmt"
	"slices"
	"strings"
)

// Kind names a fault.
type Kind string

// The faults.
const (
	KillLeader     Kind = "kill-leader"     // kill -9 the raft leader's server (and its node daemon), restart it on heal
	KillFollower   Kind = "kill-follower"   // kill -9 a follower's server, restart it on heal
	Pause          Kind = "pause"           // SIGSTOP a server, SIGCONT on heal
	IsolateLeader  Kind = "isolate-leader"  // cut the leader's VM off the network
	Isolate        Kind = "isolate"         // cut one VM off the network
	Split          Kind = "split"           // a minority cannot talk to the majority (the host reaches both)
	Ring           Kind = "ring"            // overlapping majorities: every server sees a majority, not the same one
	KillContainerd Kind = "kill-containerd" // kill -9 a VM's containerd; the node daemon starts it again
	Transfer       Kind = "transfer-leader" // a burst of leadership transfers
	// Corrupt stops a server, flips a bit in or truncates its raft log or
	// newest snapshot, and starts it again: it must refuse to start or
	// recover from its peers, never serve wrong data. Heal: a server that
	// does not serve loses its raft data and rejoins from its peers.
	Corrupt Kind = "corrupt-data"
	// DiskFull fills the file system under a server's data directory (a
	// small tmpfs the run mounts before the servers start); heal frees it
	// and restarts the server if it stopped.
	DiskFull Kind = "disk-full"
)

// Kinds lists every fault, in a fixed order.
var Kinds = []Kind{KillLeader, KillFollower, Pause, IsolateLeader, Isolate, Split, Ring, KillContainerd, Transfer, Corrupt, DiskFull}

// ParseKinds reads a comma-separated list of kinds; "" or "all" is every kind.
func ParseKinds(s string) ([]Kind, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return slices.Clone(Kinds), nil
	}
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(f))
		if !slices.Contains(Kinds, k) {
			return nil, fmt.Errorf("fault: unknown fault %q (known: %s)", k, KindList())
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// KindList is every kind, comma-separated, for usage texts.
func KindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}
