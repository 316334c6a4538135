package check

import (
	"fmt"
	"sort"

	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// LostWrites checks that no acknowledged write was lost: for every key,
// the final value (the history's Final entries) is the last acknowledged
// write, or a later one (a higher revision) written by an operation that was
// acknowledged or may have applied. Where revisions are missing it falls back
// to values and times: the final value must be the write's own, or written by
// an operation that did not end before the write began. A final value no
// operation could have written fails too, and so does a key absent at the
// end after acknowledged writes (the workloads never delete). A key with
// acknowledged writes but no final value makes the verdict Unknown.
func LostWrites(h history.History) Verdict {
	v := Verdict{Checker: "lost-writes", Result: Pass}
	finals := h.Finals()
	type keyOps struct {
		acked   []history.Operation
		writers map[string]history.Operation // by value written (values are unique)
	}
	byKey := map[string]*keyOps{}
	for _, op := range h.Operations() {
		if op.Func != history.Write && op.Func != history.CAS {
			continue
		}
		k := byKey[op.Key]
		if k == nil {
			k = &keyOps{writers: map[string]history.Operation{}}
			byKey[op.Key] = k
		}
		k.writers[op.In.Value] = op
		if op.Status == history.OK {
			k.acked = append(k.acked, op)
		}
	}
	keys := make([]string, 0, len(byKey))
	for key := range byKey {
		keys = append(keys, key)
	}
	for key := range finals {
		if byKey[key] == nil {
			keys = append(keys, key)
			byKey[key] = &keyOps{writers: map[string]history.Operation{}}
		}
	}
	sort.Strings(keys)
	lose := func(format string, args ...any) {
		v.Result = Fail
		v.Violations++
		v.detail(format, args...)
	}
	var ackedN, missing int
	for _, key := range keys {
		k := byKey[key]
		ackedN += len(k.acked)
		f, ok := finals[key]
		if !ok {
			if len(k.acked) > 0 {
				missing++
				v.Result = worse(v.Result, Unknown)
				v.detail("key %q: %d acknowledged writes but no final value was read", key, len(k.acked))
			}
			continue
		}
		for _, w := range k.acked {
			if !f.Found {
				lose("key %q: write of %q acknowledged at revision %d (op %d), but the key is absent at the end", key, w.In.Value, w.Out.Rev, w.ID)
				continue
			}
			if w.Out.Rev > 0 && f.Rev > 0 {
				switch {
				case f.Rev < w.Out.Rev:
					lose("key %q: write of %q acknowledged at revision %d (op %d), but the final value %q is from revision %d", key, w.In.Value, w.Out.Rev, w.ID, f.Value, f.Rev)
				case f.Rev == w.Out.Rev && f.Value != w.In.Value:
					lose("key %q: write of %q acknowledged at revision %d (op %d), but the final value at that revision is %q", key, w.In.Value, w.Out.Rev, w.ID, f.Value)
				}
				continue
			}
			if f.Value == w.In.Value {
				continue
			}
			x, ok := k.writers[f.Value]
			if !ok || x.Status == history.Fail || x.Return < w.Call {
				lose("key %q: write of %q acknowledged (op %d), but the final value %q was not written after it", key, w.In.Value, w.ID, f.Value)
			}
		}
		if !f.Found || f.Value == "" {
			continue
		}
		x, ok := k.writers[f.Value]
		switch {
		case !ok:
			lose("key %q: final value %q at revision %d was never written", key, f.Value, f.Rev)
		case x.Status == history.Fail:
			lose("key %q: final value %q was written by op %d, which failed (%s)", key, f.Value, x.ID, x.Err)
		case x.Status == history.OK && x.Out.Rev > 0 && f.Rev > 0 && x.Out.Rev != f.Rev:
			lose("key %q: final value %q is at revision %d, but op %d was acknowledged at revision %d", key, f.Value, f.Rev, x.ID, x.Out.Rev)
		}
	}
	v.Summary = fmt.Sprintf("%d keys, %d acknowledged writes: %d lost or wrong, %d keys without a final value", len(keys), ackedN, v.Violations, missing)
	return v
}

// All runs every checker and returns their verdicts, and the worst result.
func All(h history.History, cfg Config) ([]Verdict, Result, error) {
	lin, err := Linearizable(h, cfg)
	vs := []Verdict{lin, Watch(h), LostWrites(h)}
	res := Pass
	for _, v := range vs {
		res = worse(res, v.Result)
	}
	return vs, res, err
}
