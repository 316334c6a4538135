package storetest

import (
	"bytes"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// CheckGoroutines fails the test if goroutines started during it are still
// running a few seconds after its cleanups. Call it before anything that
// registers cleanups, so its own cleanup runs last. New calls it.
// (goleak would do, but is not a requirement of the module.)
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := map[string]bool{}
	for _, g := range goroutines() {
		before[g.id] = true
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var leaked []string
			for _, g := range goroutines() {
				if !before[g.id] && !ignoredGoroutine(g.stack) {
					leaked = append(leaked, g.stack)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

type goroutine struct{ id, stack string }

var goroutineHeader = regexp.MustCompile(`^goroutine (\d+) `)

func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for _, block := range bytes.Split(buf, []byte("\n\n")) {
		m := goroutineHeader.FindSubmatch(block)
		if m == nil {
			continue
		}
		out = append(out, goroutine{id: string(m[1]), stack: string(block)})
	}
	return out
}

// ignoredGoroutine recognises the checker itself, the test runner's own, and
// raftstore's waits on raft futures that hashicorp/raft never answers once
// shut down (see Store.waitFuture).
func ignoredGoroutine(stack string) bool {
	if strings.Contains(stack, "raft.(*deferError).Error") && strings.Contains(stack, "raftstore.(*Store).waitFuture") {
		return true
	}
	for _, s := range []string{
		"raftstore/storetest.goroutines(",
		"testing.(*T).Run(",
		"testing.tRunner.func1(",
		"runtime.goexit0",
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}
