package check

import (
	"os"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/tools/chaos/history"
)

func TestLinearizable(t *testing.T) {
	unknown := func(b *hb, client int, f history.Func, key string, in history.Input, call int) *hb {
		return b.op(client, f, key, in, call, 0, history.Unknown, history.Output{})
	}
	conflict := func(b *hb, client int, key, expect, value string, call, ret int, observed string) *hb {
		out := history.Output{Conflict: true}
		if observed != "" {
			out.Value, out.Observed = observed, true
		}
		return b.op(client, history.CAS, key, history.Input{Value: value, Expect: expect}, call, ret, history.Fail, out)
	}
	tests := []struct {
		name string
		h    *hb
		want Result
	}{
		{"sequential", newHB().write(0, "k", "a", 0, 1, 2).read(1, "k", "a", 2, 3).cas(0, "k", "a", "b", 4, 5, 3).read(1, "k", "b", 6, 7), Pass},
		{"read concurrent with a write sees either value",
			newHB().write(0, "k", "a", 0, 10, 2).read(1, "k", "", 1, 2).read(2, "k", "a", 3, 12), Pass},
		{"unknown write observed later", unknown(newHB(), 0, history.Write, "k", history.Input{Value: "a"}, 0).read(1, "k", "a", 5, 6), Pass},
		{"unknown write never observed", unknown(newHB(), 0, history.Write, "k", history.Input{Value: "a"}, 0).read(1, "k", "", 5, 6), Pass},
		{"unknown cas applied", unknown(newHB().write(0, "k", "a", 0, 1, 2), 1, history.CAS, "k", history.Input{Expect: "a", Value: "b"}, 2).read(2, "k", "b", 5, 6), Pass},
		{"cas conflict on another value", conflict(newHB().write(0, "k", "a", 0, 1, 2), 1, "k", "x", "y", 2, 3, "a"), Pass},
		{"failed write leaves no trace",
			newHB().op(0, history.Write, "k", history.Input{Value: "x"}, 0, 1, history.Fail, history.Output{}).read(1, "k", "", 2, 3), Pass},
		{"failed read is ignored",
			newHB().write(0, "k", "a", 0, 1, 2).op(1, history.Read, "k", history.Input{}, 2, 3, history.Fail, history.Output{Value: "garbage"}), Pass},
		{"two keys are independent", newHB().write(0, "k1", "a", 0, 1, 2).write(0, "k2", "b", 2, 3, 3).read(1, "k1", "a", 4, 5).read(1, "k2", "b", 4, 5), Pass},

		{"stale read", newHB().write(0, "k", "a", 0, 1, 2).write(0, "k", "b", 2, 3, 3).read(1, "k", "a", 4, 5), Fail},
		{"lost write", newHB().write(0, "k", "a", 0, 1, 2).read(1, "k", "", 2, 3), Fail},
		{"cas succeeds on a stale value", newHB().write(0, "k", "a", 0, 1, 2).write(0, "k", "b", 2, 3, 3).cas(1, "k", "a", "c", 4, 5, 4), Fail},
		{"cas conflicts although the value matched", conflict(newHB().write(0, "k", "a", 0, 1, 2), 1, "k", "a", "c", 2, 3, ""), Fail},
		{"failed cas observed a value never written", conflict(newHB().write(0, "k", "a", 0, 1, 2), 1, "k", "x", "c", 2, 3, "z"), Fail},
		{"read of a failed write", newHB().op(0, history.Write, "k", history.Input{Value: "x"}, 0, 1, history.Fail, history.Output{}).read(1, "k", "x", 2, 3), Fail},
		{"value read before it was written", newHB().read(1, "k", "a", 0, 1).write(0, "k", "a", 2, 3, 2), Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ReportDir = t.TempDir()
			v, err := Linearizable(tt.h.h, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if v.Result != tt.want {
				t.Fatalf("got %s, want %s: %s %v", v.Result, tt.want, v.Summary, v.Details)
			}
			if (tt.want == Fail) != (len(v.Files) == 1) || (tt.want == Fail) != (v.Violations == 1) {
				t.Errorf("violations %d, files %v", v.Violations, v.Files)
			}
		})
	}
}

func TestLinearizableVisualisesOnlyIllegalKeys(t *testing.T) {
	b := newHB().write(0, "/reg/good", "a", 0, 1, 2).read(1, "/reg/good", "a", 2, 3).
		write(0, "/reg/bad", "b", 0, 1, 3).read(1, "/reg/bad", "", 2, 3)
	cfg := DefaultConfig()
	cfg.ReportDir = t.TempDir() + "/report" // created on demand
	v, err := Linearizable(b.h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v.Result != Fail || v.Violations != 1 || len(v.Files) != 1 {
		t.Fatalf("got %s, %d violations, files %v: %v", v.Result, v.Violations, v.Files, v.Details)
	}
	if !strings.Contains(v.Files[0], "reg_bad") || !strings.Contains(v.Details[0], `"/reg/bad"`) {
		t.Errorf("the illegal key is not named: %v %v", v.Files, v.Details)
	}
	html, err := os.ReadFile(v.Files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), `write(\"b\")`) {
		t.Errorf("visualisation does not describe the operations")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	bad := DefaultConfig()
	bad.Timeout = -1
	if err := bad.Validate(); err == nil {
		t.Error("negative timeout accepted")
	}
	if _, err := Linearizable(nil, bad); err == nil {
		t.Error("Linearizable ran with an invalid config")
	}
}
