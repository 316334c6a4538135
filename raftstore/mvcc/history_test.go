package mvcc

import (
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestEventsFrom(t *testing.T) {
	s := New(0)
	mustPut(t, s, "a", "1")                                                                                         // 2
	mustTxn(t, s, &pb.TxnRequest{Success: ops(putOp("c", "1"), putOp("a", "2"), delOp("x", "y"), putOp("b", "1"))}) // 3
	mustDelete(t, s, "a", "c")                                                                                      // 4: a then b
	mustPut(t, s, "a", "3")                                                                                         // 5

	a1 := &mvccpb.KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 2, Version: 1}
	a2 := &mvccpb.KeyValue{Key: []byte("a"), Value: []byte("2"), CreateRevision: 2, ModRevision: 3, Version: 2}
	b1 := &mvccpb.KeyValue{Key: []byte("b"), Value: []byte("1"), CreateRevision: 3, ModRevision: 3, Version: 1}
	c1 := &mvccpb.KeyValue{Key: []byte("c"), Value: []byte("1"), CreateRevision: 3, ModRevision: 3, Version: 1}
	a3 := &mvccpb.KeyValue{Key: []byte("a"), Value: []byte("3"), CreateRevision: 5, ModRevision: 5, Version: 1}
	want := []*mvccpb.Event{
		{Type: mvccpb.PUT, Kv: a1},
		{Type: mvccpb.PUT, Kv: c1},
		{Type: mvccpb.PUT, Kv: a2, PrevKv: a1},
		{Type: mvccpb.PUT, Kv: b1},
		{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte("a"), ModRevision: 4}, PrevKv: a2},
		{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte("b"), ModRevision: 4}, PrevKv: b1},
		{Type: mvccpb.PUT, Kv: a3},
	}
	// firstAt[rev] is the index in want of the first event of rev.
	firstAt := map[int64]int{2: 0, 3: 1, 4: 4, 5: 6, 6: 7}

	tests := []struct {
		from     int64
		max      int
		wantFrom int64 // first revision returned
		wantTo   int64 // revision after the last returned
	}{
		{0, 0, 2, 6},
		{1, 0, 2, 6},
		{2, 0, 2, 6},
		{3, 0, 3, 6},
		{5, 0, 5, 6},
		{6, 0, 6, 6},
		{7, 0, 7, 7},
		{100, 0, 100, 100},
		{2, 1, 2, 3},
		{2, 2, 2, 4},
		{3, 2, 3, 5},
		{4, 5, 4, 6},
		{1, 1, 2, 3},
		{6, 1, 6, 6},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("from %d max %d", tt.from, tt.max), func(t *testing.T) {
			got, next, err := s.EventsFrom(tt.from, tt.max)
			if err != nil {
				t.Fatalf("EventsFrom: %v", err)
			}
			if next != tt.wantTo {
				t.Errorf("next = %d, want %d", next, tt.wantTo)
			}
			var exp []*mvccpb.Event
			if lo, ok := firstAt[tt.wantFrom]; ok {
				exp = want[lo:firstAt[tt.wantTo]]
			}
			if !equalEvents(got, exp) {
				t.Errorf("events:%s\nwant:%s", evsString(got), evsString(exp))
			}
		})
	}
}

func TestEventsFromPaging(t *testing.T) {
	s := New(0)
	for i := 0; i < 50; i++ {
		mustPut(t, s, fmt.Sprintf("k%d", i%7), fmt.Sprint(i))
	}
	all, end, err := s.EventsFrom(0, 0)
	if err != nil || len(all) != 50 || end != s.Rev()+1 {
		t.Fatalf("EventsFrom(0, 0) = %d events, next %d, %v; want 50, %d", len(all), end, err, s.Rev()+1)
	}
	var paged []*mvccpb.Event
	for rev := int64(0); rev <= s.Rev(); {
		evs, next, err := s.EventsFrom(rev, 3)
		if err != nil {
			t.Fatalf("EventsFrom(%d, 3): %v", rev, err)
		}
		if next <= rev && rev > 0 {
			t.Fatalf("EventsFrom(%d, 3) did not advance: next %d", rev, next)
		}
		paged = append(paged, evs...)
		rev = next
	}
	if !equalEvents(paged, all) {
		t.Errorf("paged events differ from one read")
	}
	for i := 1; i < len(all); i++ {
		if all[i].Kv.ModRevision <= all[i-1].Kv.ModRevision {
			t.Fatalf("events out of revision order at %d", i)
		}
	}
}
