package mvcc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// A randOp is one generated request. Compact's revision is relative
// (back from the current one) so that it means the same on any replica.
type randOp struct {
	put     *pb.PutRequest
	del     *pb.DeleteRangeRequest
	txn     *pb.TxnRequest
	rng     *pb.RangeRequest
	compact int64
	grant   [2]int64
	revoke  int64
}

func (o randOp) String() string {
	switch {
	case o.put != nil:
		return fmt.Sprintf("put %v", o.put)
	case o.del != nil:
		return fmt.Sprintf("delete %v", o.del)
	case o.txn != nil:
		return fmt.Sprintf("txn %v", o.txn)
	case o.rng != nil:
		return fmt.Sprintf("range %v", o.rng)
	case o.grant != [2]int64{}:
		return fmt.Sprintf("grant %v", o.grant)
	case o.revoke != 0:
		return fmt.Sprintf("revoke %d", o.revoke)
	}
	return fmt.Sprintf("compact back %d", o.compact)
}

// apply runs the op and returns its response (nil for ops that have none)
// and error.
func (o randOp) apply(s *Store) (proto.Message, error) {
	switch {
	case o.put != nil:
		return s.Put(o.put)
	case o.del != nil:
		return s.DeleteRange(o.del)
	case o.txn != nil:
		return s.Txn(o.txn)
	case o.rng != nil:
		return s.Range(o.rng)
	case o.grant != [2]int64{}:
		return nil, s.LeaseGrant(o.grant[0], o.grant[1])
	case o.revoke != 0:
		rev, err := s.LeaseRevoke(o.revoke)
		return &pb.ResponseHeader{Revision: rev}, err
	}
	return nil, s.Compact(s.Rev() - o.compact)
}

type opGen struct {
	r *rand.Rand
}

func (g opGen) key() []byte { return []byte(fmt.Sprintf("k%d", g.r.IntN(8))) }

func (g opGen) keyRange() (key, end []byte) {
	key = g.key()
	switch g.r.IntN(4) {
	case 0:
		return key, nil
	case 1:
		return key, []byte{0}
	case 2:
		return key, []byte(fmt.Sprintf("k%d", g.r.IntN(9)))
	}
	return []byte("k"), []byte("l")
}

func (g opGen) value() []byte {
	b := make([]byte, g.r.IntN(24))
	for i := range b {
		b[i] = byte('a' + g.r.IntN(3))
	}
	return b
}

func (g opGen) lease() int64 {
	if g.r.IntN(3) == 0 {
		return int64(1 + g.r.IntN(5))
	}
	return 0
}

func (g opGen) put() *pb.PutRequest {
	p := &pb.PutRequest{Key: g.key(), Value: g.value(), Lease: g.lease(), PrevKv: g.r.IntN(2) == 0}
	switch g.r.IntN(10) {
	case 0:
		p.IgnoreValue, p.Value = true, nil
	case 1:
		p.IgnoreLease, p.Lease = true, 0
	}
	return p
}

func (g opGen) del() *pb.DeleteRangeRequest {
	k, e := g.keyRange()
	return &pb.DeleteRangeRequest{Key: k, RangeEnd: e, PrevKv: g.r.IntN(2) == 0}
}

func (g opGen) rangeReq() *pb.RangeRequest {
	k, e := g.keyRange()
	return &pb.RangeRequest{
		Key: k, RangeEnd: e,
		Limit:      int64(g.r.IntN(4)),
		Revision:   int64(g.r.IntN(3)) * int64(g.r.IntN(30)),
		SortOrder:  pb.RangeRequest_SortOrder(g.r.IntN(3)),
		SortTarget: pb.RangeRequest_SortTarget(g.r.IntN(5)),
		KeysOnly:   g.r.IntN(4) == 0,
		CountOnly:  g.r.IntN(8) == 0,
	}
}

func (g opGen) compare() *pb.Compare {
	c := &pb.Compare{Key: g.key(), Result: pb.Compare_CompareResult(g.r.IntN(4)), Target: pb.Compare_CompareTarget(g.r.IntN(5))}
	if g.r.IntN(4) == 0 {
		_, c.RangeEnd = g.keyRange()
	}
	n := int64(g.r.IntN(20))
	switch c.Target {
	case pb.Compare_VERSION:
		c.TargetUnion = &pb.Compare_Version{Version: n % 4}
	case pb.Compare_CREATE:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: n}
	case pb.Compare_MOD:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: n}
	case pb.Compare_VALUE:
		c.TargetUnion = &pb.Compare_Value{Value: g.value()}
	case pb.Compare_LEASE:
		c.TargetUnion = &pb.Compare_Lease{Lease: n % 6}
	}
	return c
}

func (g opGen) txn(depth int) *pb.TxnRequest {
	t := &pb.TxnRequest{}
	for i := g.r.IntN(3); i > 0; i-- {
		t.Compare = append(t.Compare, g.compare())
	}
	branch := func() []*pb.RequestOp {
		var out []*pb.RequestOp
		for i := g.r.IntN(4); i > 0; i-- {
			switch n := g.r.IntN(10); {
			case n < 5:
				out = append(out, putOpReq(g.put()))
			case n < 7:
				out = append(out, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: g.del()}})
			case n < 9 || depth >= 2:
				out = append(out, &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: g.rangeReq()}})
			default:
				out = append(out, txnOp(g.txn(depth+1)))
			}
		}
		return out
	}
	t.Success, t.Failure = branch(), branch()
	return t
}

func (g opGen) op() randOp {
	switch n := g.r.IntN(100); {
	case n < 40:
		return randOp{put: g.put()}
	case n < 50:
		return randOp{del: g.del()}
	case n < 80:
		return randOp{txn: g.txn(0)}
	case n < 87:
		return randOp{rng: g.rangeReq()}
	case n < 90:
		return randOp{compact: int64(g.r.IntN(40))}
	case n < 95:
		return randOp{grant: [2]int64{int64(1 + g.r.IntN(5)), int64(1 + g.r.IntN(100))}}
	}
	return randOp{revoke: int64(1 + g.r.IntN(5))}
}

func randOps(seed uint64, n int) []randOp {
	g := opGen{r: rand.New(rand.NewPCG(seed, seed^0x5eed))}
	out := make([]randOp, n)
	for i := range out {
		out[i] = g.op()
	}
	return out
}

// TestRandomReplicas applies the same random requests to two stores, one of
// which is restored from a snapshot midway, and checks that they answer and
// end up the same; along the way it checks the store's invariants and that
// every snapshot restores to the same state.
func TestRandomReplicas(t *testing.T) {
	seeds, n := 40, 400
	if testing.Short() {
		seeds = 8
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			ops := randOps(seed, n)
			quota := int64(3 << 10)
			a, b, c := New(quota), New(quota), New(quota)
			var restored int
			for i, op := range ops {
				if i == n/2 || i == n/3 {
					b = roundTrip(t, b)
					restored++
				}
				ra, erra := op.apply(a)
				rb, errb := op.apply(b)
				_, errc := op.apply(c)
				if !errors.Is(erra, errb) || !errors.Is(erra, errc) {
					t.Fatalf("op %d %v: errors %v, %v and %v", i, op, erra, errb, errc)
				}
				if !proto.Equal(ra, rb) {
					t.Fatalf("op %d %v: responses differ:\n%v\n%v", i, op, ra, rb)
				}
				if erra != nil && !isRequestError(erra) {
					t.Fatalf("op %d %v: unexpected error %v", i, op, erra)
				}
				checkInvariants(t, a)
				if i%5 == 4 && (a.Hash() != b.Hash() || a.Hash() != c.Hash()) {
					t.Fatalf("op %d %v: hashes %x, %x, %x", i, op, a.Hash(), b.Hash(), c.Hash())
				}
				if i%50 == 49 {
					checkSameState(t, a, roundTrip(t, a))
				}
			}
			checkSameState(t, a, b)
			checkSameState(t, a, c)
			checkInvariants(t, b)
			if restored != 2 {
				t.Fatalf("restored %d times, want 2", restored)
			}
		})
	}
}

// isRequestError reports whether err is one a request may legitimately get.
func isRequestError(err error) bool {
	for _, e := range []error{ErrCompacted, ErrFutureRev, ErrNoSpace, ErrKeyNotFound, ErrLeaseNotFound, ErrLeaseExists, ErrDuplicateKey} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// TestRandomOpsAreDeterministic checks that generating and applying the same
// seed twice gives the same hash, and different seeds different ones.
func TestRandomOpsAreDeterministic(t *testing.T) {
	run := func(seed uint64) uint64 {
		s := New(0)
		for _, op := range randOps(seed, 300) {
			_, _ = op.apply(s)
		}
		return s.Hash()
	}
	if run(7) != run(7) {
		t.Fatalf("same seed, different hashes")
	}
	if run(7) == run(8) {
		t.Fatalf("different seeds, same hash")
	}
}

// checkInvariants checks the store's internal consistency: version chains,
// compaction, lease attachments, size accounting and the watch history.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	var size int64
	attached := map[int64][]string{}
	versionsAt := map[int64]int{}
	s.keys.Ascend(func(rec *keyRecord) bool {
		if len(rec.versions) == 0 {
			t.Fatalf("key %q has no versions", rec.key)
		}
		belowCompact := 0
		for i, v := range rec.versions {
			kv := v.kv
			size += chargeOf(kv)
			versionsAt[kv.ModRevision]++
			if string(kv.Key) != rec.key {
				t.Fatalf("key %q holds a version of %q", rec.key, kv.Key)
			}
			if kv.ModRevision > s.rev || kv.ModRevision < 2 {
				t.Fatalf("key %q: version at %d, store at %d", rec.key, kv.ModRevision, s.rev)
			}
			if kv.ModRevision <= s.compactRev {
				belowCompact++
				if v.tombstone() && kv.ModRevision < s.compactRev {
					t.Fatalf("key %q: tombstone at %d survived Compact(%d)", rec.key, kv.ModRevision, s.compactRev)
				}
			}
			if v.tombstone() {
				if kv.CreateRevision != 0 || kv.Lease != 0 || kv.Value != nil {
					t.Fatalf("key %q: tombstone %s has fields set", rec.key, kvString(kv))
				}
			} else if kv.CreateRevision > kv.ModRevision || kv.Version < 1 {
				t.Fatalf("key %q: bad version %s", rec.key, kvString(kv))
			}
			if i == 0 {
				continue
			}
			prev := rec.versions[i-1].kv
			if kv.ModRevision <= prev.ModRevision {
				t.Fatalf("key %q: versions at %d then %d", rec.key, prev.ModRevision, kv.ModRevision)
			}
			switch {
			case v.tombstone() && rec.versions[i-1].tombstone():
				t.Fatalf("key %q: two tombstones in a row", rec.key)
			case v.tombstone():
			case rec.versions[i-1].tombstone():
				if kv.Version != 1 || kv.CreateRevision != kv.ModRevision {
					t.Fatalf("key %q: re-created as %s", rec.key, kvString(kv))
				}
			default:
				if kv.Version != prev.Version+1 || kv.CreateRevision != prev.CreateRevision {
					t.Fatalf("key %q: %s follows %s", rec.key, kvString(kv), kvString(prev))
				}
			}
		}
		if belowCompact > 1 {
			t.Fatalf("key %q: %d versions at or below the compacted revision %d", rec.key, belowCompact, s.compactRev)
		}
		if kv, ok := rec.latest(); ok && kv.Lease != 0 {
			attached[kv.Lease] = append(attached[kv.Lease], rec.key)
		}
		return true
	})
	if got, want := s.size, size+int64(len(s.leases))*versionOverhead; got != want {
		t.Fatalf("size %d, want %d", got, want)
	}
	for id, keys := range attached {
		l, ok := s.leases[id]
		if !ok {
			t.Fatalf("keys %q attached to missing lease %d", keys, id)
		}
		if got := l.Keys(); !slices.Equal(got, keys) {
			t.Fatalf("lease %d keys %q, want %q", id, got, keys)
		}
	}
	for id, l := range s.leases {
		if len(l.keys) != len(attached[id]) {
			t.Fatalf("lease %d has %d keys, %d attached", id, len(l.keys), len(attached[id]))
		}
	}
	if s.histStart != max(s.compactRev, 2) {
		t.Fatalf("history starts at %d, compacted at %d", s.histStart, s.compactRev)
	}
	if got, want := int64(len(s.history)), max(s.rev-s.histStart+1, 0); got != want {
		t.Fatalf("history holds %d revisions, want %d", got, want)
	}
	for i, evs := range s.history {
		rev := s.histStart + int64(i)
		if len(evs) == 0 || len(evs) != versionsAt[rev] {
			t.Fatalf("revision %d: %d events, %d versions", rev, len(evs), versionsAt[rev])
		}
		for _, ev := range evs {
			if ev.Kv.ModRevision != rev {
				t.Fatalf("revision %d holds event %s", rev, evString(ev))
			}
		}
	}
}
