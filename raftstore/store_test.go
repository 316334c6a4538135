package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

func put(t *testing.T, s *raftstore.Store, k, v string) *pb.PutResponse {
	t.Helper()
	resp, err := s.Put(t.Context(), &pb.PutRequest{Key: []byte(k), Value: []byte(v)})
	if err != nil {
		t.Fatalf("put %s on %s: %v", k, s.Name(), err)
	}
	return resp
}

func get(t *testing.T, s *raftstore.Store, k string, serializable bool) *pb.RangeResponse {
	t.Helper()
	resp, err := s.Range(t.Context(), &pb.RangeRequest{Key: []byte(k), Serializable: serializable})
	if err != nil {
		t.Fatalf("get %s on %s: %v", k, s.Name(), err)
	}
	return resp
}

func TestWritesThroughAnyMemberAreReadEverywhere(t *testing.T) {
	c := storetest.New(t, 3, nil)
	for i, nd := range c.Nodes {
		resp := put(t, nd.Store(), fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
		if resp.Header.Revision != int64(i+2) {
			t.Fatalf("put %d: revision %d, want %d", i, resp.Header.Revision, i+2)
		}
	}
	for _, nd := range c.Nodes {
		for i := range c.Nodes {
			resp := get(t, nd.Store(), fmt.Sprintf("k%d", i), false)
			if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != fmt.Sprintf("v%d", i) {
				t.Fatalf("%s: linearizable get k%d = %v", nd.Name, i, resp.Kvs)
			}
		}
	}
	c.WaitConverged(5 * time.Second)
}

func TestTxnCompareAndSwapOnFollower(t *testing.T) {
	c := storetest.New(t, 3, nil)
	f := c.Nodes[(c.Leader()+1)%3].Store()
	rev := put(t, f, "cas", "a").Header.Revision
	txn := func(expect int64, v string) *pb.TxnResponse {
		resp, err := f.Txn(t.Context(), &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte("cas"), Target: pb.Compare_MOD, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_ModRevision{ModRevision: expect}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("cas"), Value: []byte(v)}}}},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("cas")}}}},
		})
		if err != nil {
			t.Fatalf("txn: %v", err)
		}
		return resp
	}
	if r := txn(rev, "b"); !r.Succeeded || r.Header.Revision != rev+1 {
		t.Fatalf("CAS at current revision: succeeded=%v rev=%d", r.Succeeded, r.Header.Revision)
	}
	r := txn(rev, "c")
	if r.Succeeded {
		t.Fatalf("CAS at stale revision succeeded")
	}
	kvs := r.Responses[0].GetResponseRange().Kvs
	if len(kvs) != 1 || string(kvs[0].Value) != "b" || kvs[0].ModRevision != rev+1 {
		t.Fatalf("failed CAS returned %v", kvs)
	}
}

func TestWatchFromRevisionOnFollower(t *testing.T) {
	c := storetest.New(t, 3, nil)
	l := c.Nodes[c.Leader()].Store()
	f := c.Nodes[(c.Leader()+1)%3].Store()
	first := put(t, l, "w/a", "1").Header.Revision
	put(t, l, "w/b", "2")
	put(t, l, "other", "x")
	if _, err := l.DeleteRange(t.Context(), &pb.DeleteRangeRequest{Key: []byte("w/a")}); err != nil {
		t.Fatal(err)
	}
	w, err := f.Watch(t.Context(), raftstore.WatchRequest{Key: []byte("w/"), RangeEnd: []byte("w0"), StartRevision: first, PrevKV: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	put(t, l, "w/c", "3")
	var got []string
	deadline := time.After(5 * time.Second)
	for len(got) < 4 {
		select {
		case r := <-w.C:
			for _, ev := range r.Events {
				got = append(got, fmt.Sprintf("%s %s@%d", ev.Type, ev.Kv.Key, ev.Kv.ModRevision))
				if ev.Type == mvccpb.DELETE && (ev.PrevKv == nil || string(ev.PrevKv.Value) != "1") {
					t.Fatalf("delete event without prev kv: %v", ev)
				}
			}
		case <-deadline:
			t.Fatalf("watch got only %v", got)
		}
	}
	want := []string{
		fmt.Sprintf("PUT w/a@%d", first), fmt.Sprintf("PUT w/b@%d", first+1),
		fmt.Sprintf("DELETE w/a@%d", first+3), fmt.Sprintf("PUT w/c@%d", first+4),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestWatchCompactedRevision(t *testing.T) {
	c := storetest.New(t, 1, nil)
	s := c.Nodes[0].Store()
	for i := range 5 {
		put(t, s, "k", fmt.Sprint(i))
	}
	if _, err := s.Compact(t.Context(), &pb.CompactionRequest{Revision: 5}); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(t.Context(), raftstore.WatchRequest{Key: []byte("k"), StartRevision: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := <-w.C
	if !r.Canceled || r.CompactRevision != 5 || !errors.Is(r.Err, raftstore.ErrCompacted) {
		t.Fatalf("watch below compaction: %+v", r)
	}
	if _, err := s.Range(t.Context(), &pb.RangeRequest{Key: []byte("k"), Revision: 4}); !errors.Is(err, raftstore.ErrCompacted) {
		t.Fatalf("range below compaction: %v", err)
	}
}

func TestLeaseExpiresThroughRaftAndSurvivesLeaderChange(t *testing.T) {
	c := storetest.New(t, 3, nil)
	f := c.Nodes[(c.Leader()+1)%3].Store()
	grant, err := f.LeaseGrant(t.Context(), &pb.LeaseGrantRequest{TTL: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Put(t.Context(), &pb.PutRequest{Key: []byte("hb"), Value: []byte("x"), Lease: grant.ID}); err != nil {
		t.Fatal(err)
	}
	// Keep it alive across a leader change.
	old := c.Leader()
	c.Kill(old)
	c.Leader()
	for range 15 {
		if _, err := f.LeaseKeepAlive(t.Context(), grant.ID); err != nil && f != nil {
			// f may be the killed one; use any running member.
			t.Fatalf("keepalive: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp := get(t, f, "hb", false); len(resp.Kvs) != 1 {
		t.Fatalf("key of a kept-alive lease vanished")
	}
	ttl, err := f.LeaseTimeToLive(t.Context(), &pb.LeaseTimeToLiveRequest{ID: grant.ID, Keys: true})
	if err != nil || len(ttl.Keys) != 1 || ttl.GrantedTTL != 1 {
		t.Fatalf("time to live: %+v %v", ttl, err)
	}
	// Stop renewing: the leader revokes it and the key goes on every replica.
	deadline := time.Now().Add(5 * time.Second)
	for len(get(t, f, "hb", false).Kvs) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("lease did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := f.LeaseKeepAlive(t.Context(), grant.ID); !errors.Is(err, raftstore.ErrLeaseNotFound) {
		t.Fatalf("keepalive of expired lease: %v", err)
	}
	c.Restart(old)
	c.WaitConverged(5 * time.Second)
}

func TestMinorityPartitionCannotWriteOrReadLinearizably(t *testing.T) {
	c := storetest.New(t, 3, nil)
	l := c.Leader()
	c.Isolate(l)
	iso := c.Nodes[l].Store()
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	if _, err := iso.Put(ctx, &pb.PutRequest{Key: []byte("x"), Value: []byte("lost")}); err == nil {
		t.Fatalf("isolated old leader acknowledged a write")
	}
	if _, err := iso.Range(ctx, &pb.RangeRequest{Key: []byte("x")}); err == nil {
		t.Fatalf("isolated old leader served a linearizable read")
	}
	// The majority elects a new leader and writes.
	other := c.Nodes[(l+1)%3].Store()
	put(t, other, "x", "kept")
	c.Heal()
	c.WaitConverged(5 * time.Second)
	if resp := get(t, iso, "x", false); string(resp.Kvs[0].Value) != "kept" {
		t.Fatalf("after heal: %s", resp.Kvs[0].Value)
	}
}

func TestBadInputAppliesNothing(t *testing.T) {
	c := storetest.New(t, 1, func(cfg *raftstore.Config) { cfg.MaxRequestBytes = 1024 })
	s := c.Nodes[0].Store()
	rev := put(t, s, "a", "1").Header.Revision
	if _, err := s.Put(t.Context(), &pb.PutRequest{Key: []byte("big"), Value: make([]byte, 2048)}); !errors.Is(err, raftstore.ErrRequestTooLarge) {
		t.Fatalf("oversize put: %v", err)
	}
	if _, err := s.Put(t.Context(), &pb.PutRequest{Key: []byte("b"), Lease: 12345}); !errors.Is(err, raftstore.ErrLeaseNotFound) {
		t.Fatalf("unknown lease: %v", err)
	}
	if _, err := s.Range(t.Context(), &pb.RangeRequest{Key: []byte("a"), Revision: rev + 10}); !errors.Is(err, raftstore.ErrFutureRev) {
		t.Fatalf("future revision: %v", err)
	}
	if _, err := s.Txn(t.Context(), &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a"), Target: 99}}}); !errors.Is(err, raftstore.ErrBadCompare) {
		t.Fatalf("malformed compare: %v", err)
	}
	if _, err := s.LeaseRevoke(t.Context(), &pb.LeaseRevokeRequest{ID: 777}); !errors.Is(err, raftstore.ErrLeaseNotFound) {
		t.Fatalf("revoke unknown lease: %v", err)
	}
	if got := s.Rev(); got != rev {
		t.Fatalf("revision moved from %d to %d on rejected requests", rev, got)
	}
}

func TestStatusReportsLastContactPerPeer(t *testing.T) {
	c := storetest.New(t, 3, nil)
	l := c.Nodes[c.Leader()].Store()
	time.Sleep(100 * time.Millisecond) // a few heartbeats
	st, err := l.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Role != "Leader" || st.Leader != l.Name() || st.CommitIndex == 0 || st.AppliedIndex == 0 || st.Term == 0 {
		t.Fatalf("leader status: %+v", st)
	}
	if len(st.Servers) != 3 {
		t.Fatalf("servers: %+v", st.Servers)
	}
	for _, sv := range st.Servers {
		age := time.Since(sv.LastContact)
		switch {
		case sv.Name == l.Name() && !sv.LastContact.IsZero():
			t.Errorf("leader reports contact with itself: %v", sv.LastContact)
		case sv.Name != l.Name() && age > time.Second:
			t.Errorf("%s: last contact %v ago", sv.Name, age)
		}
	}
	// A follower cut off stops answering: its last contact ages.
	f := (c.Leader() + 1) % 3
	c.Isolate(f)
	time.Sleep(400 * time.Millisecond)
	st, err = l.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, sv := range st.Servers {
		if sv.Name == c.Nodes[f].Name && time.Since(sv.LastContact) < 300*time.Millisecond {
			t.Errorf("isolated %s still in contact: %v ago", sv.Name, time.Since(sv.LastContact))
		}
	}
}

func TestQuotaRejectsWritesUntilCompaction(t *testing.T) {
	c := storetest.New(t, 1, func(cfg *raftstore.Config) { cfg.QuotaBytes = 64 << 10 })
	s := c.Nodes[0].Store()
	value := string(make([]byte, 1024))
	var last int64
	for i := 0; ; i++ {
		resp, err := s.Put(t.Context(), &pb.PutRequest{Key: []byte("k"), Value: []byte(value)})
		if errors.Is(err, raftstore.ErrNoSpace) {
			break
		}
		if err != nil || i > 1000 {
			t.Fatalf("put %d: %v", i, err)
		}
		last = resp.Header.Revision
	}
	if got := s.Rev(); got != last {
		t.Fatalf("a rejected put moved the revision from %d to %d", last, got)
	}
	if _, err := s.Compact(t.Context(), &pb.CompactionRequest{Revision: last}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), &pb.PutRequest{Key: []byte("k"), Value: []byte(value)}); err != nil {
		t.Fatalf("put after compaction freed space: %v", err)
	}
}

func TestMembershipChanges(t *testing.T) {
	c := storetest.New(t, 3, nil)
	l := c.Nodes[c.Leader()].Store()
	put(t, l, "before", "1")
	n := c.AddNode()
	newcomer := c.Nodes[n]
	if err := l.AddNonvoter(t.Context(), newcomer.Name, string(newcomer.Addr)); err != nil {
		t.Fatalf("add nonvoter: %v", err)
	}
	voter := func(name string) (bool, bool) {
		servers, err := l.Servers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, sv := range servers {
			if sv.Name == name {
				return sv.Voter, true
			}
		}
		return false, false
	}
	if v, ok := voter(newcomer.Name); !ok || v {
		t.Fatalf("after AddNonvoter: member=%v voter=%v", ok, v)
	}
	// The nonvoter replicates: it converges with the others and serves reads.
	c.WaitConverged(5 * time.Second)
	if resp := get(t, newcomer.Store(), "before", true); len(resp.Kvs) != 1 {
		t.Fatalf("nonvoter has not replicated the state")
	}
	if err := l.AddVoter(t.Context(), newcomer.Name, string(newcomer.Addr)); err != nil {
		t.Fatalf("promote: %v", err)
	}
	if v, _ := voter(newcomer.Name); !v {
		t.Fatalf("promoted member is not a voter")
	}
	// Hand leadership to the newcomer, then remove the old leader.
	if err := l.TransferLeadership(t.Context(), newcomer.Name); err != nil {
		t.Fatalf("transfer leadership: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !newcomer.Store().IsLeader() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become leader", newcomer.Name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := l.AddVoter(t.Context(), "x", "y"); !errors.Is(err, raftstore.ErrNotLeader) {
		t.Fatalf("membership change on a follower: %v", err)
	}
	if err := newcomer.Store().RemoveServer(t.Context(), l.Name()); err != nil {
		t.Fatalf("remove old leader: %v", err)
	}
	members, err := newcomer.Store().MemberList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(members.Members) != 3 {
		t.Fatalf("after removal: %d members", len(members.Members))
	}
	for _, m := range members.Members {
		if m.Name == l.Name() {
			t.Fatalf("removed member %s still listed", m.Name)
		}
	}
	put(t, newcomer.Store(), "after", "2")
}
