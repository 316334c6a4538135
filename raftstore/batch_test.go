package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

// Group commit (batch.go): many requests share one raft entry, yet each is
// still its own write with its own revision and its own outcome.

const (
	groupWriters   = 50
	groupPerWriter = 4
)

// groupWrite is one request of a concurrent run and what came of it.
type groupWrite struct {
	key  string // the key the request writes, if it succeeds
	want error  // nil: it must succeed
	rev  int64
	err  error
}

// runConcurrently sends groupWriters×groupPerWriter requests from
// groupWriters goroutines spread over every member, the leader and the
// followers alike, all released at once. op runs request i of writer w
// through member s. It returns the requests and how many raft entries the
// leader applied for them.
func runConcurrently(t *testing.T, c *storetest.Cluster, op func(ctx context.Context, s *raftstore.Store, w, i int) (groupWrite, int64, error)) ([]groupWrite, uint64) {
	t.Helper()
	leader := c.Nodes[c.Leader()].Store()
	before := leader.AppliedIndex()
	out := make([]groupWrite, groupWriters*groupPerWriter)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range groupWriters {
		s := c.Nodes[w%len(c.Nodes)].Store()
		wg.Go(func() {
			<-start
			for i := range groupPerWriter {
				g, rev, err := op(t.Context(), s, w, i)
				g.rev, g.err = rev, err
				out[w*groupPerWriter+i] = g
			}
		})
	}
	close(start)
	wg.Wait()
	if !leader.IsLeader() {
		t.Fatalf("leader %s lost leadership during the run", leader.Name())
	}
	return out, leader.AppliedIndex() - before
}

// checkContiguous fails unless revs are distinct and, sorted, exactly the
// range from the first to the last.
func checkContiguous(t *testing.T, revs []int64) {
	t.Helper()
	sorted := slices.Clone(revs)
	slices.Sort(sorted)
	for i, r := range sorted {
		if r != sorted[0]+int64(i) {
			t.Fatalf("%d writes got revisions %d..%d with a gap or repeat at %d (after %d): %v",
				len(sorted), sorted[0], sorted[len(sorted)-1], r, sorted[max(i-1, 0)], sorted)
		}
	}
}

// checkKeys fails unless every member holds each successful write's key at
// the revision it was acknowledged with, and none of the failed writes' keys.
func checkKeys(t *testing.T, c *storetest.Cluster, writes []groupWrite, prefix string) {
	t.Helper()
	c.WaitConverged(5 * time.Second)
	for _, nd := range c.Nodes {
		resp, err := nd.Store().Range(t.Context(), &pb.RangeRequest{Key: []byte(prefix), RangeEnd: []byte(prefix + "\xff"), Serializable: true})
		if err != nil {
			t.Fatalf("range %s on %s: %v", prefix, nd.Name, err)
		}
		got := map[string]int64{}
		for _, kv := range resp.Kvs {
			got[string(kv.Key)] = kv.ModRevision
		}
		for _, g := range writes {
			rev, ok := got[g.key]
			switch {
			case g.key == "":
			case g.want == nil && (!ok || rev != g.rev):
				t.Fatalf("%s: key %s at revision %d (present %v), acknowledged at %d", nd.Name, g.key, rev, ok, g.rev)
			case g.want != nil && ok:
				t.Fatalf("%s: key %s of a failed write is present at revision %d", nd.Name, g.key, rev)
			}
		}
	}
}

func TestGroupCommitGivesEveryPutItsOwnRevision(t *testing.T) {
	c := storetest.New(t, 3, nil)
	writes, entries := runConcurrently(t, c, func(ctx context.Context, s *raftstore.Store, w, i int) (groupWrite, int64, error) {
		key := fmt.Sprintf("group/%02d/%d", w, i)
		resp, err := s.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte(s.Name())})
		return groupWrite{key: key}, resp.GetHeader().GetRevision(), err
	})
	var revs []int64
	for _, g := range writes {
		if g.err != nil {
			t.Fatalf("put %s: %v", g.key, g.err)
		}
		revs = append(revs, g.rev)
	}
	checkContiguous(t, revs)
	t.Logf("%d puts in %d raft entries", len(writes), entries)
	if entries >= uint64(len(writes)) {
		t.Fatalf("%d concurrent puts took %d raft entries: no group commit", len(writes), entries)
	}
	checkKeys(t, c, writes, "group/")
}

func TestGroupCommitFailsOnlyTheBadCommands(t *testing.T) {
	c := storetest.New(t, 3, nil)
	put := func(k string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte("v")}}}
	}
	const kinds = 8
	writes, entries := runConcurrently(t, c, func(ctx context.Context, s *raftstore.Store, w, i int) (groupWrite, int64, error) {
		key := fmt.Sprintf("mixed/%02d/%d", w, i)
		switch (w + i) % kinds {
		case 0, 4: // good put
			resp, err := s.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte("v")})
			return groupWrite{key: key}, resp.GetHeader().GetRevision(), err
		case 1: // good txn
			resp, err := s.Txn(ctx, &pb.TxnRequest{
				Compare: []*pb.Compare{{Key: []byte(key), Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}}},
				Success: []*pb.RequestOp{put(key)},
			})
			if err == nil && !resp.Succeeded {
				err = errors.New("compare failed")
			}
			return groupWrite{key: key}, resp.GetHeader().GetRevision(), err
		case 2: // put with a lease nobody granted
			resp, err := s.Put(ctx, &pb.PutRequest{Key: []byte(key), Lease: 1<<40 + int64(w)})
			return groupWrite{key: key, want: raftstore.ErrLeaseNotFound}, resp.GetHeader().GetRevision(), err
		case 3: // a txn that passes validation but reads a future revision at apply
			resp, err := s.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{
				put(key),
				{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key), Revision: 1 << 40}}},
			}})
			return groupWrite{key: key, want: raftstore.ErrFutureRev}, resp.GetHeader().GetRevision(), err
		case 5: // keep the value of a key that does not exist
			resp, err := s.Put(ctx, &pb.PutRequest{Key: []byte(key), IgnoreValue: true})
			return groupWrite{key: key, want: raftstore.ErrKeyNotFound}, resp.GetHeader().GetRevision(), err
		case 6:
			resp, err := s.Compact(ctx, &pb.CompactionRequest{Revision: 1 << 40})
			return groupWrite{want: raftstore.ErrFutureRev}, resp.GetHeader().GetRevision(), err
		default:
			resp, err := s.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: 1<<40 + int64(w)})
			return groupWrite{want: raftstore.ErrLeaseNotFound}, resp.GetHeader().GetRevision(), err
		}
	})
	var revs []int64
	failed := 0
	for _, g := range writes {
		if g.want == nil {
			if g.err != nil {
				t.Fatalf("good write %s failed: %v", g.key, g.err)
			}
			revs = append(revs, g.rev)
			continue
		}
		failed++
		if !errors.Is(g.err, g.want) {
			t.Fatalf("bad write %q: got %v, want %v", g.key, g.err, g.want)
		}
	}
	// Failed commands take no revision, so the good ones still have no gaps.
	checkContiguous(t, revs)
	t.Logf("%d requests (%d failing) in %d raft entries", len(writes), failed, entries)
	if entries >= uint64(len(writes)) {
		t.Fatalf("%d concurrent requests took %d raft entries: no group commit", len(writes), entries)
	}
	checkKeys(t, c, writes, "mixed/")
}
