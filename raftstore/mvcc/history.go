package mvcc

import "go.etcd.io/etcd/api/v3/mvccpb"

// EventsFrom returns the events of revisions from rev up to the current one,
// at most max revisions' worth (0 = all), and the revision to continue from.
// Events are ordered by revision and sub-revision, and shared with the store:
// they must not be modified. rev below the compacted revision gives
// ErrCompacted; rev past the current revision gives no events.
func (s *Store) EventsFrom(rev int64, max int) ([]*mvccpb.Event, int64, error) {
	if rev < s.compactRev {
		return nil, rev, ErrCompacted
	}
	if rev < s.histStart {
		rev = s.histStart
	}
	if rev > s.rev {
		return nil, rev, nil
	}
	from := rev - s.histStart
	to := int64(len(s.history))
	if max > 0 && to-from > int64(max) {
		to = from + int64(max)
	}
	var out []*mvccpb.Event
	for _, evs := range s.history[from:to] {
		out = append(out, evs...)
	}
	return out, s.histStart + to, nil
}
