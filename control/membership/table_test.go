package membership

import (
	"strings"
	"testing"
)

func TestWriteMembers(t *testing.T) {
	members := []Member{
		{Name: "worker-1", Role: RoleNode, Addr: "10.0.0.11:7946", Status: StatusFailed,
			Tags: map[string]string{TagRole: "node", TagNodeName: "worker-1", TagIP: "10.0.0.11"}},
		{Name: "s1", Role: RoleServer, Addr: "10.0.0.1:7946", Status: StatusAlive,
			Tags: map[string]string{TagRole: "server", TagRaftAddr: "10.0.0.1:7000", TagAPIAddr: "10.0.0.1:6443", TagExpect: "3", "other": "hidden"}},
		{Name: "x", Addr: "10.0.0.9:7946", Status: StatusLeft},
	}
	var b strings.Builder
	if err := WriteMembers(&b, members); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"NAME      ADDRESS         STATUS  ROLE    TAGS",
		"s1        10.0.0.1:7946   alive   server  api=10.0.0.1:6443,raft=10.0.0.1:7000,expect=3",
		"worker-1  10.0.0.11:7946  failed  node    node=worker-1,ip=10.0.0.11",
		"x         10.0.0.9:7946   left    -       -",
		"",
	}, "\n")
	if got := b.String(); got != want {
		t.Fatalf("WriteMembers:\n%s\nwant:\n%s", got, want)
	}
	if members[0].Name != "worker-1" {
		t.Fatal("WriteMembers reordered the caller's slice")
	}
}
