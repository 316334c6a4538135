package check

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/tools/chaos/history"
)

func TestLostWrites(t *testing.T) {
	unknownWrite := func(b *hb, key, value string, call int) *hb {
		return b.op(1, history.Write, key, history.Input{Value: value}, call, 0, history.Unknown, history.Output{})
	}
	failedWrite := func(b *hb, key, value string, call int) *hb {
		return b.op(1, history.Write, key, history.Input{Value: value}, call, call+1, history.Fail, history.Output{})
	}
	tests := []struct {
		name    string
		h       *hb
		want    Result
		details string
	}{
		{"last write is final", newHB().write(0, "k", "a", 0, 1, 2).cas(0, "k", "a", "b", 2, 3, 3).final("k", "b", 3), Pass, ""},
		{"superseded by a write of unknown outcome", unknownWrite(newHB().write(0, "k", "a", 0, 1, 2), "k", "u", 2).final("k", "u", 7), Pass, ""},
		{"unknown write that never applied", unknownWrite(newHB().write(0, "k", "a", 0, 1, 2), "k", "u", 2).final("k", "a", 2), Pass, ""},
		{"without revisions: superseded by a concurrent write",
			newHB().write(0, "k", "a", 0, 5, 0).write(1, "k", "b", 1, 2, 0).final("k", "b", 0), Pass, ""},
		{"key never written, absent", newHB().final("k", "", 0), Pass, ""},

		{"final value older than an acknowledged write", newHB().write(0, "k", "a", 0, 1, 2).write(0, "k", "b", 2, 3, 3).final("k", "a", 2), Fail, "acknowledged at revision 3"},
		{"key absent at the end", newHB().write(0, "k", "a", 0, 1, 2).final("k", "", 0), Fail, "absent at the end"},
		{"other value at the write's revision", newHB().write(0, "k", "a", 0, 1, 2).final("k", "zz", 2), Fail, "at that revision is \"zz\""},
		{"final value never written", newHB().write(0, "k", "a", 0, 1, 2).final("k", "ghost", 9), Fail, "was never written"},
		{"final value from a failed write", failedWrite(newHB().write(0, "k", "a", 0, 1, 2), "k", "f", 2).final("k", "f", 3), Fail, "which failed"},
		{"without revisions: overwritten by an earlier write",
			newHB().write(1, "k", "b", 0, 1, 0).write(0, "k", "a", 2, 3, 0).final("k", "b", 0), Fail, "was not written after it"},
		{"no final read", newHB().write(0, "k", "a", 0, 1, 2), Unknown, "no final value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := LostWrites(tt.h.h)
			if v.Result != tt.want {
				t.Fatalf("got %s, want %s: %s %v", v.Result, tt.want, v.Summary, v.Details)
			}
			if tt.details != "" && (len(v.Details) == 0 || !strings.Contains(v.Details[0], tt.details)) {
				t.Errorf("details %q, want one containing %q", v.Details, tt.details)
			}
		})
	}
}

func TestAll(t *testing.T) {
	good := newHB().write(0, "/p/a", "a", 0, 1, 2).read(1, "/p/a", "a", 2, 3).session(2, "/p/", 2, 3, ev{2, "/p/a", "a"}).final("/p/a", "a", 2)
	vs, res, err := All(good.h, DefaultConfig())
	if err != nil || res != Pass || len(vs) != 3 {
		t.Fatalf("good history: %v %s %v", vs, res, err)
	}
	bad := newHB().write(0, "/p/a", "a", 0, 1, 2).read(1, "/p/a", "", 2, 3).final("/p/a", "", 0)
	vs, res, _ = All(bad.h, DefaultConfig())
	if res != Fail || vs[0].Result != Fail || vs[2].Result != Fail {
		t.Fatalf("bad history: %v %s", vs, res)
	}
}

// FuzzCheckers: whatever a history file holds, the checkers answer.
func FuzzCheckers(f *testing.F) {
	f.Add([]byte(`{"kind":"invoke","op":1,"f":"write","key":"k","in":{"value":"a"}}
{"kind":"ok","op":1,"time":3,"f":"write","key":"k","out":{"rev":2}}
{"kind":"invoke","op":2,"client":1,"f":"watch","key":"k","in":{"rev":1}}
{"kind":"event","op":2,"client":1,"key":"k","out":{"value":"a","rev":2}}
{"kind":"final","key":"k","out":{"value":"a","found":true,"rev":2}}
`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := history.Decode(bytes.NewReader(b))
		if err != nil || len(h) > 200 {
			return
		}
		cfg := DefaultConfig()
		cfg.Timeout = time.Second
		vs, res, err := All(h, cfg)
		if err != nil || len(vs) != 3 || res == "" {
			t.Fatalf("All: %v %q %v", vs, res, err)
		}
	})
}
