package membership

import (
	"slices"
	"testing"
)

func server(name string, st Status, tags map[string]string) Member {
	t := map[string]string{TagRole: string(RoleServer), TagRaftAddr: name + ":7000", TagExpect: "3"}
	for k, v := range tags {
		if v == "" {
			delete(t, k)
		} else {
			t[k] = v
		}
	}
	return Member{Name: name, Role: RoleServer, Addr: name + ":7946", Status: st, Tags: t}
}

func node(name string, st Status) Member {
	return Member{Name: name, Role: RoleNode, Status: st, Tags: map[string]string{TagRole: "node"}}
}

func TestShouldBootstrap(t *testing.T) {
	abc := []Peer{{"a", "a:7000"}, {"b", "b:7000"}, {"c", "c:7000"}}
	tests := []struct {
		name     string
		expect   int
		servers  []Member
		hasState bool
		want     []Peer
		wantOK   bool
	}{
		{"three alive, sorted", 3, []Member{server("c", StatusAlive, nil), server("a", StatusAlive, nil), server("b", StatusAlive, nil)}, false, abc, true},
		{"nodes ignored", 3, []Member{server("a", StatusAlive, nil), node("n1", StatusAlive), server("b", StatusAlive, nil), server("c", StatusAlive, nil)}, false, abc, true},
		{"failed server not counted", 3, []Member{server("a", StatusAlive, nil), server("b", StatusAlive, nil), server("d", StatusFailed, nil), server("c", StatusAlive, nil)}, false, abc, true},
		{"too few", 3, []Member{server("a", StatusAlive, nil), server("b", StatusAlive, nil)}, false, nil, false},
		{"too few counting a failed one", 3, []Member{server("a", StatusAlive, nil), server("b", StatusAlive, nil), server("c", StatusFailed, nil)}, false, nil, false},
		{"more than expected: all of them", 3, []Member{server("d", StatusAlive, nil), server("b", StatusAlive, nil), server("c", StatusAlive, nil), server("a", StatusAlive, nil)}, false, append(abc, Peer{"d", "d:7000"}), true},
		{"local raft state", 3, []Member{server("a", StatusAlive, nil), server("b", StatusAlive, nil), server("c", StatusAlive, nil)}, true, nil, false},
		{"peer has raft state", 3, []Member{server("a", StatusAlive, nil), server("b", StatusAlive, map[string]string{TagRaftState: "true"}), server("c", StatusAlive, nil)}, false, nil, false},
		{"failed peer has raft state", 3, []Member{server("a", StatusAlive, nil), server("b", StatusAlive, nil), server("c", StatusAlive, nil), server("d", StatusFailed, map[string]string{TagRaftState: "true"})}, false, nil, false},
		{"expect mismatch", 3, []Member{server("a", StatusAlive, nil), server("b", StatusAlive, map[string]string{TagExpect: "5"}), server("c", StatusAlive, nil)}, false, nil, false},
		{"expect missing", 3, []Member{server("a", StatusAlive, nil), server("b", StatusAlive, map[string]string{TagExpect: ""}), server("c", StatusAlive, nil)}, false, nil, false},
		{"raft addr missing", 3, []Member{server("a", StatusAlive, nil), server("b", StatusAlive, map[string]string{TagRaftAddr: ""}), server("c", StatusAlive, nil)}, false, nil, false},
		{"expect zero disables", 0, []Member{}, false, nil, false},
		{"single server", 1, []Member{server("a", StatusAlive, map[string]string{TagExpect: "1"})}, false, []Peer{{"a", "a:7000"}}, true},
		{"duplicate names", 2, []Member{server("a", StatusAlive, map[string]string{TagExpect: "2"}), server("a", StatusAlive, map[string]string{TagExpect: "2"})}, false, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ShouldBootstrap(tt.expect, tt.servers, tt.hasState)
			if ok != tt.wantOK || !slices.Equal(got, tt.want) {
				t.Fatalf("ShouldBootstrap = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// Every server computes the same configuration whatever order Serf lists
// the members in.
func TestShouldBootstrapOrderIndependent(t *testing.T) {
	ms := []Member{server("s3", StatusAlive, nil), server("s1", StatusAlive, nil), server("s2", StatusAlive, nil)}
	first, ok := ShouldBootstrap(3, ms, false)
	if !ok {
		t.Fatal("want bootstrap")
	}
	perms := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, p := range perms {
		got, _ := ShouldBootstrap(3, []Member{ms[p[0]], ms[p[1]], ms[p[2]]}, false)
		if !slices.Equal(got, first) {
			t.Fatalf("order %v: %v, want %v", p, got, first)
		}
	}
}
