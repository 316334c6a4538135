package etcdapi

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/skiff-sh/skiff/raftstore"
)

func TestMemberListAndStatus(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	leader := c.Leader()
	cli := newClient(t, c.urls[c.follower(t)])
	ctx := stepCtx(t)

	list, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatalf("member list: %v", err)
	}
	var got []string
	for _, m := range list.Members {
		got = append(got, fmt.Sprintf("%x %s %v learner=%v", m.ID, m.Name, m.ClientURLs, m.IsLearner))
	}
	var want []string
	for i, nd := range c.Nodes {
		want = append(want, fmt.Sprintf("%x %s [%s] learner=false", raftstore.MemberID(nd.Name), nd.Name, c.urls[i]))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("member list:\n got %q\nwant %q", got, want)
	}

	if _, err := cli.Put(ctx, "s", "1"); err != nil {
		t.Fatalf("put: %v", err)
	}
	c.WaitConverged(5 * time.Second)
	for i, nd := range c.Nodes {
		st, err := cli.Status(ctx, c.urls[i])
		if err != nil {
			t.Fatalf("status of %s: %v", nd.Name, err)
		}
		if st.Header.MemberId != nd.Store().ID() || st.Leader != c.Nodes[leader].Store().ID() {
			t.Errorf("status of %s: member %x, leader %x; want %x, %x", nd.Name, st.Header.MemberId, st.Leader, nd.Store().ID(), c.Nodes[leader].Store().ID())
		}
		if st.Version != Version || st.RaftTerm == 0 || st.RaftIndex == 0 || st.RaftAppliedIndex == 0 || st.DbSize <= 0 || len(st.Errors) != 0 {
			t.Errorf("status of %s: %+v", nd.Name, st)
		}
	}

	// HashKV agrees across members at the same revision.
	var hashes []string
	for i := range c.Nodes {
		h, err := cli.HashKV(ctx, c.urls[i], 0)
		if err != nil {
			t.Fatalf("hashkv of %s: %v", c.Nodes[i].Name, err)
		}
		hashes = append(hashes, fmt.Sprintf("%x@%d", h.Hash, h.HashRevision))
	}
	if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
		t.Fatalf("hashkv differs across converged members: %v", hashes)
	}
	if _, err := cli.HashKV(ctx, c.urls[0], 1<<40); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("hashkv at a future revision: err %v; want %v", err, rpctypes.ErrFutureRev)
	}

	if alarms, err := cli.AlarmList(ctx); err != nil || len(alarms.Alarms) != 0 {
		t.Fatalf("alarm list = %+v, %v; want empty", alarms, err)
	}
}

// MoveLeader hands leadership over; writes through the old leader, now a
// follower, are forwarded to the new one.
func TestMoveLeaderThenForward(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	old := c.Leader()
	target := (old + 1) % 3
	ctx := stepCtx(t)
	follower := newClient(t, c.urls[target])
	if _, err := follower.MoveLeader(ctx, c.Nodes[old].Store().ID()); !errors.Is(err, rpctypes.ErrNotLeader) {
		t.Fatalf("move leader on a follower: err %v; want %v", err, rpctypes.ErrNotLeader)
	}
	cli := newClient(t, c.urls[old])
	if _, err := cli.MoveLeader(ctx, c.Nodes[target].Store().ID()); err != nil {
		t.Fatalf("move leader to %s: %v", c.Nodes[target].Name, err)
	}
	if now := c.Leader(); now != target {
		t.Fatalf("leader is %s after moving it to %s", c.Nodes[now].Name, c.Nodes[target].Name)
	}
	if _, err := cli.Put(ctx, "after-move", "v"); err != nil {
		t.Fatalf("put through the old leader: %v", err)
	}
	if got, err := follower.Get(ctx, "after-move"); err != nil || len(got.Kvs) != 1 {
		t.Fatalf("get on the new leader = %v, %v", got, err)
	}
}
