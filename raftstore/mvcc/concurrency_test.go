package mvcc

import (
	"sync"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Readers share the store under the caller's read lock, and raftstore takes
// Frozen copies (snapshots, hashes) as a reader. Regression: Freeze swapped the
// key tree's copy-on-write context, a write, so two concurrent Freezes raced
// (seen with -race).
func TestConcurrentReaders(t *testing.T) {
	s := richStore(t, 5)
	want := s.Hash()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if h := s.Freeze().Hash(); h != want {
					t.Errorf("Freeze().Hash() = %x, want %x", h, want)
					return
				}
				if _, err := s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, SortTarget: pb.RangeRequest_VALUE, KeysOnly: j%2 == 0}); err != nil {
					t.Errorf("Range: %v", err)
					return
				}
				if _, _, err := s.EventsFrom(5, 0); err != nil {
					t.Errorf("EventsFrom: %v", err)
					return
				}
				_ = s.Leases()
			}
		}()
	}
	wg.Wait()
}
