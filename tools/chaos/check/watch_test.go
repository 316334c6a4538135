package check

import (
	"strings"
	"testing"
)

func TestWatch(t *testing.T) {
	// Three acknowledged writes under /p/ at revisions 2..4, and one outside
	// the prefix at 5.
	writes := func() *hb {
		return newHB().write(0, "/p/a", "a1", 0, 1, 2).write(0, "/p/b", "b1", 2, 3, 3).write(0, "/p/a", "a2", 4, 5, 4).write(0, "/q/x", "x1", 6, 7, 5)
	}
	all := []ev{{2, "/p/a", "a1"}, {3, "/p/b", "b1"}, {4, "/p/a", "a2"}}
	tests := []struct {
		name    string
		h       *hb
		want    Result
		details string // a fragment of the first detail, for failures
	}{
		{"complete", writes().session(9, "/p/", 2, 5, all...), Pass, ""},
		{"resumed where it stopped", writes().session(9, "/p/", 2, 0, all[:2]...).session(9, "/p/", 4, 5, all[2:]...), Pass, ""},
		{"started late sees only later writes", writes().session(9, "/p/", 4, 5, all[2:]...), Pass, ""},
		{"progress with no events", writes().session(9, "/p/", 5, 7), Pass, ""},
		{"unacknowledged write seen by two watchers",
			writes().session(8, "/p/", 2, 0, append(all, ev{6, "/p/c", "c1"})...).session(9, "/p/", 2, 0, append(all, ev{6, "/p/c", "c1"})...), Pass, ""},

		{"duplicate", writes().session(9, "/p/", 2, 5, all[0], all[1], all[1], all[2]), Fail, "duplicate event at revision 3"},
		{"gap", writes().session(9, "/p/", 2, 5, all[0], all[2]), Fail, "missed key \"/p/b\" at revision 3 (gap)"},
		{"gap up to a progress notification", writes().session(9, "/p/", 2, 4, all[:2]...), Fail, "missed key \"/p/a\" at revision 4"},
		{"reorder", writes().session(9, "/p/", 2, 5, all[0], all[2], all[1]), Fail, "out of order"},
		{"resume skips the first change", writes().session(9, "/p/", 2, 0, all[0]).session(9, "/p/", 3, 5, all[2]), Fail, "resumed from revision 3: first event at revision 4"},
		{"resume replays an old event", writes().session(9, "/p/", 2, 0, all[:2]...).session(9, "/p/", 4, 5, all[1], all[2]), Fail, "before its start"},
		{"event disagrees with the acknowledged write", writes().session(9, "/p/", 2, 5, all[0], ev{3, "/p/b", "stale"}, all[2]), Fail, "says \"stale\""},
		{"gap against another watcher's event",
			writes().session(8, "/p/", 2, 0, append(all, ev{6, "/p/c", "c1"})...).session(9, "/p/", 2, 7, all...), Fail, "missed key \"/p/c\" at revision 6"},
		{"watcher stopped behind acknowledged writes", writes().session(9, "/p/", 2, 0, all[:2]...), Unknown, "watcher 9 stopped at revision 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Watch(tt.h.h)
			if v.Result != tt.want {
				t.Fatalf("got %s, want %s: %s %v", v.Result, tt.want, v.Summary, v.Details)
			}
			if tt.details != "" && (len(v.Details) == 0 || !strings.Contains(v.Details[0], tt.details)) {
				t.Errorf("details %q, want one containing %q", v.Details, tt.details)
			}
			if (tt.want == Fail) != (v.Violations > 0) {
				t.Errorf("%d violations for a %s verdict", v.Violations, v.Result)
			}
		})
	}
}
