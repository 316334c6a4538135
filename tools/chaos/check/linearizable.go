package check

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// regInput and regOutput are what porcupine sees of a register operation.
type regInput struct {
	f      history.Func
	value  string // write, cas: new value
	expect string // cas
}

type regOutput struct {
	status   history.Kind
	value    string // read: the value; cas conflict with observed: the value seen
	observed bool
}

// registerModel is a compare-and-swap register holding a string, "" when
// absent. Each key is checked on its own, so it needs no partitioning.
var registerModel = porcupine.Model{
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(string), input.(regInput), output.(regOutput)
		switch in.f {
		case history.Read:
			return out.value == st, st
		case history.Write:
			return true, in.value // ok, or unknown: at the end of time it changes nothing observable
		case history.CAS:
			switch out.status {
			case history.OK:
				return st == in.expect, in.value
			case history.Fail: // the compare failed
				if out.observed && out.value != st {
					return false, st
				}
				return st != in.expect, st
			default: // unknown: it swapped if it could, or it took effect never
				if st == in.expect {
					return true, in.value
				}
				return true, st
			}
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		var s string
		switch in.f {
		case history.Read:
			s = fmt.Sprintf("read → %q", out.value)
		case history.Write:
			s = fmt.Sprintf("write(%q)", in.value)
		case history.CAS:
			s = fmt.Sprintf("cas(%q → %q)", in.expect, in.value)
			switch {
			case out.status == history.OK:
				s += " ok"
			case out.status == history.Fail && out.observed:
				s += fmt.Sprintf(" failed, saw %q", out.value)
			case out.status == history.Fail:
				s += " failed"
			}
		}
		if out.status == history.Unknown {
			s += " ?"
		}
		return s
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state.(string)) },
	DescribeOperationMetadata: func(info any) string {
		if id, ok := info.(int64); ok {
			return fmt.Sprintf("op %d", id)
		}
		return ""
	},
}

// registerOps turns a history's register operations into porcupine's, by
// key. Reads that did not return and operations that certainly failed (but
// for a cas whose compare failed, which says the register did not hold its
// expected value) are left out: they constrain nothing.
func registerOps(h history.History) (map[string][]porcupine.Operation, int) {
	byKey := map[string][]porcupine.Operation{}
	clients := map[string]map[int]int{} // per key: dense client ids, for the visualisation
	n := 0
	for _, op := range h.Operations() {
		switch {
		case op.Func != history.Read && op.Func != history.Write && op.Func != history.CAS:
			continue
		case op.Func == history.Read && op.Status != history.OK:
			continue
		case op.Status == history.Fail && !(op.Func == history.CAS && op.Out.Conflict):
			continue
		}
		if clients[op.Key] == nil {
			clients[op.Key] = map[int]int{}
		}
		cid, ok := clients[op.Key][op.Client]
		if !ok {
			cid = len(clients[op.Key])
			clients[op.Key][op.Client] = cid
		}
		ret := int64(op.Return)
		if op.Status == history.Unknown {
			ret = int64(history.Never)
		}
		byKey[op.Key] = append(byKey[op.Key], porcupine.Operation{
			ClientId: cid,
			Input:    regInput{f: op.Func, value: op.In.Value, expect: op.In.Expect},
			Call:     int64(op.Call),
			Output:   regOutput{status: op.Status, value: op.Out.Value, observed: op.Out.Observed},
			Return:   ret,
			Metadata: op.ID,
		})
		n++
	}
	return byKey, n
}

// Linearizable checks that the history's register operations are
// linearizable, key by key. An illegal key fails the verdict and, with
// cfg.ReportDir set, gets porcupine's visualisation there; a key not decided
// within cfg.Timeout makes it Unknown. The error reports a bad configuration
// or a visualisation that could not be written; the verdict stands either way.
func Linearizable(h history.History, cfg Config) (Verdict, error) {
	v := Verdict{Checker: "linearizable", Result: Pass}
	if err := cfg.Validate(); err != nil {
		v.Result, v.Summary = Unknown, "invalid configuration"
		return v, err
	}
	byKey, n := registerOps(h)
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var illegal, unknown int
	var werr error
	for i, key := range keys {
		res := porcupine.CheckOperationsTimeout(registerModel, byKey[key], cfg.Timeout)
		switch res {
		case porcupine.Ok:
			continue
		case porcupine.Unknown:
			unknown++
			v.Result = worse(v.Result, Unknown)
			v.detail("key %q: undecided within %s (%d operations)", key, cfg.Timeout, len(byKey[key]))
			continue
		}
		illegal++
		v.Result = Fail
		msg := fmt.Sprintf("key %q: not linearizable (%d operations)", key, len(byKey[key]))
		if cfg.ReportDir != "" {
			// Again, keeping the partial linearisations the picture needs.
			_, info := porcupine.CheckOperationsVerbose(registerModel, byKey[key], cfg.Timeout)
			path := filepath.Join(cfg.ReportDir, fmt.Sprintf("linearizability-%03d-%s.html", i, fileSafe(key)))
			err := os.MkdirAll(cfg.ReportDir, 0o755)
			if err == nil {
				err = porcupine.VisualizePath(registerModel, info, path)
			}
			if err != nil {
				if werr == nil {
					werr = fmt.Errorf("check: writing the visualisation of key %q to %s: %w", key, path, err)
				}
			} else {
				v.Files = append(v.Files, path)
				msg += "; see " + path
			}
		}
		v.detail("%s", msg)
	}
	v.Violations = illegal
	v.Summary = fmt.Sprintf("%d keys, %d operations: %d illegal, %d undecided", len(keys), n, illegal, unknown)
	return v, werr
}

// fileSafe turns a key into a short file-name fragment.
func fileSafe(key string) string {
	s := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, strings.Trim(key, "/"))
	if len(s) > 60 {
		s = s[len(s)-60:]
	}
	return s
}
