package mvcc

import "go.etcd.io/etcd/api/v3/mvccpb"

// Compact discards every version that no read at revision rev or later can
// see: for each key it keeps the newest version at or below rev (unless it is
// a tombstone older than rev) and everything after. Reads and watches below
// rev then fail with ErrCompacted. Compaction does not change the revision.
func (s *Store) Compact(rev int64) error {
	if rev <= s.compactRev {
		return ErrCompacted
	}
	if rev > s.rev {
		return ErrFutureRev
	}
	var replace []*keyRecord
	var drop []*keyRecord
	s.keys.Ascend(func(rec *keyRecord) bool {
		keep := compactVersions(rec.versions, rev)
		if len(keep) == len(rec.versions) {
			return true
		}
		for _, v := range rec.versions[:len(rec.versions)-len(keep)] {
			s.size -= chargeOf(v.kv)
		}
		if len(keep) == 0 {
			drop = append(drop, rec)
		} else {
			// A fresh slice: snapshot clones may still read the old one.
			replace = append(replace, &keyRecord{key: rec.key, versions: append([]version(nil), keep...)})
		}
		return true
	})
	for _, rec := range drop {
		s.keys.Delete(rec)
	}
	for _, rec := range replace {
		s.keys.ReplaceOrInsert(rec)
	}
	s.compactRev = rev
	if rev > s.histStart {
		n := rev - s.histStart
		s.history = append([][]*mvccpb.Event(nil), s.history[n:]...)
		s.histStart = rev
		// The versions before rev are gone, so the events at rev lose their
		// previous values, as in etcd (which reads them at rev-1, now
		// compacted) and as in a store restored from a snapshot. Events are
		// shared with readers: replace them rather than modify them.
		evs := make([]*mvccpb.Event, len(s.history[0]))
		for i, ev := range s.history[0] {
			evs[i] = &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
		}
		s.history[0] = evs
	}
	return nil
}

// compactVersions returns the suffix of vs that survives compaction at rev.
func compactVersions(vs []version, rev int64) []version {
	i := len(vs) - 1
	for i >= 0 && vs[i].kv.ModRevision > rev {
		i--
	}
	if i < 0 {
		return vs
	}
	if vs[i].tombstone() && vs[i].kv.ModRevision < rev {
		i++
	}
	return vs[i:]
}
