package check

import (
	"fmt"
	"sort"
	"strings"

	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// revKey names one change: a key changed at a revision (a transaction can
// change several keys at one revision).
type revKey struct {
	rev int64
	key string
}

// change is what is known to have happened at a revKey, and from where.
type change struct {
	value   string
	deleted bool
	acked   bool   // an acknowledged write or cas
	source  string // for messages: "op 12" or "watch session 7"
}

// Watch checks the watch sessions of a history: each session's events are
// ordered by revision, contain no duplicates, start at or after the
// revision asked for, agree with the acknowledged writes, and miss nothing
// known to have happened (acknowledged writes, and events any session saw)
// between the session's start and the revision it reached (its last event or
// progress notification). A session resumed by a watcher from revision R must
// begin with the first change after R. Acknowledged writes a watcher should
// have seen but never reached (it stopped behind them) make the verdict
// Unknown.
func Watch(h history.History) Verdict {
	v := Verdict{Checker: "watch", Result: Pass}
	sessions := h.Sessions()
	known := map[revKey]change{}
	fail := func(format string, args ...any) {
		v.Result = Fail
		v.Violations++
		v.detail(format, args...)
	}
	learn := func(rk revKey, c change) {
		old, ok := known[rk]
		if !ok {
			known[rk] = c
			return
		}
		if old.value != c.value || old.deleted != c.deleted {
			if old.acked && c.acked {
				fail("revision %d key %q: %s wrote %q but %s wrote %q", rk.rev, rk.key, old.source, old.value, c.source, c.value)
			} else {
				fail("revision %d key %q: %s says %s, %s says %s", rk.rev, rk.key, old.source, describeChange(old), c.source, describeChange(c))
			}
		}
		if c.acked && !old.acked {
			known[rk] = c
		}
	}
	var acked []revKey
	for _, op := range h.Operations() {
		if (op.Func == history.Write || op.Func == history.CAS) && op.Status == history.OK && op.Out.Rev > 0 {
			rk := revKey{op.Out.Rev, op.Key}
			learn(rk, change{value: op.In.Value, acked: true, source: fmt.Sprintf("op %d", op.ID)})
			acked = append(acked, rk)
		}
	}
	events := 0
	for _, s := range sessions {
		for _, ev := range s.Events {
			events++
			learn(revKey{ev.Rev, ev.Key}, change{value: ev.Value, deleted: ev.Deleted, source: fmt.Sprintf("watch session %d", s.ID)})
		}
	}
	all := make([]revKey, 0, len(known))
	for rk := range known {
		all = append(all, rk)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].rev != all[j].rev {
			return all[i].rev < all[j].rev
		}
		return all[i].key < all[j].key
	})

	resumed := map[int]bool{} // watchers that had a session before
	for _, s := range sessions {
		checkSession(s, resumed[s.Client], all, fail)
		resumed[s.Client] = true
	}

	// Did every watcher reach every acknowledged write after it started?
	type watcher struct {
		prefix  string
		from    int64
		through int64
		spans   [][2]int64
	}
	watchers := map[int]*watcher{}
	var ids []int
	for _, s := range sessions {
		w := watchers[s.Client]
		if w == nil {
			w = &watcher{prefix: s.Prefix, from: s.From}
			watchers[s.Client] = w
			ids = append(ids, s.Client)
		}
		w.through = max(w.through, s.Through())
		w.spans = append(w.spans, [2]int64{s.From, s.Through()})
	}
	var seen, behind, unchecked int
	lagging := map[int]int64{} // watcher -> first acknowledged revision it never reached
	for _, rk := range acked {
		covered := false
		for _, id := range ids {
			w := watchers[id]
			if !strings.HasPrefix(rk.key, w.prefix) || rk.rev < w.from {
				continue
			}
			in := false
			for _, sp := range w.spans {
				if sp[0] <= rk.rev && rk.rev <= sp[1] {
					in = true
				}
			}
			switch {
			case in:
				covered = true
			case rk.rev > w.through:
				behind++
				if lagging[id] == 0 || rk.rev < lagging[id] {
					lagging[id] = rk.rev
				}
			default:
				unchecked++ // between two sessions: the watcher skipped ahead (compaction)
			}
		}
		if covered {
			seen++
		}
	}
	for _, id := range ids {
		if rev := lagging[id]; rev > 0 {
			v.Result = worse(v.Result, Unknown)
			v.detail("watcher %d stopped at revision %d, before acknowledged writes from revision %d on", id, watchers[id].through, rev)
		}
	}
	v.Summary = fmt.Sprintf("%d watchers, %d sessions, %d events; %d/%d acknowledged writes seen, %d behind a watcher's end, %d skipped; %d violations",
		len(watchers), len(sessions), events, seen, len(acked), behind, unchecked, v.Violations)
	return v
}

// checkSession checks one session against every known change (sorted).
func checkSession(s history.Session, resumed bool, all []revKey, fail func(string, ...any)) {
	got := map[revKey]bool{}
	var last int64
	for i, ev := range s.Events {
		rk := revKey{ev.Rev, ev.Key}
		switch {
		case ev.Rev < s.From:
			fail("watch session %d (watcher %d) from revision %d: event %d at revision %d (key %q) is before its start", s.ID, s.Client, s.From, i, ev.Rev, ev.Key)
		case got[rk]:
			fail("watch session %d (watcher %d): duplicate event at revision %d key %q (event %d)", s.ID, s.Client, ev.Rev, ev.Key, i)
		case ev.Rev < last:
			fail("watch session %d (watcher %d): event %d at revision %d (key %q) after an event at revision %d: out of order", s.ID, s.Client, i, ev.Rev, ev.Key, last)
		}
		got[rk] = true
		last = max(last, ev.Rev)
	}
	through := s.Through()
	first := int64(-1)
	if len(s.Events) > 0 {
		first = s.Events[0].Rev
	}
	lo := sort.Search(len(all), func(i int) bool { return all[i].rev >= s.From })
	for _, rk := range all[lo:] {
		if rk.rev > through {
			break
		}
		if !strings.HasPrefix(rk.key, s.Prefix) || got[rk] {
			continue
		}
		if resumed && first >= 0 && rk.rev < first {
			fail("watch session %d (watcher %d) resumed from revision %d: first event at revision %d, but key %q changed at revision %d", s.ID, s.Client, s.From, first, rk.key, rk.rev)
			continue
		}
		fail("watch session %d (watcher %d) from revision %d through %d: missed key %q at revision %d (gap)", s.ID, s.Client, s.From, through, rk.key, rk.rev)
	}
}

func describeChange(c change) string {
	if c.deleted {
		return "a delete"
	}
	return fmt.Sprintf("%q", c.value)
}
