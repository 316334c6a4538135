//go:build integration

package apibench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testOptions are DefaultOptions for 300 pods, scratch space in a test
// directory and logs in the test output.
func testOptions(t *testing.T, bin string) Options {
	t.Helper()
	o := DefaultOptions()
	o.Pods = 300
	o.SkiffBin = bin
	o.StartTimeout = 30 * time.Second
	o.TempDir = t.TempDir()
	o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	return o
}

func skiffBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Skip("SKIFF_BIN is unset: set it to a built skiff binary (make test-integration does)")
	}
	return bin
}

// TestRun runs the benchmark with 300 pods and checks the form of its last
// line, not the speed it reports.
func TestRun(t *testing.T) {
	o := testOptions(t, skiffBin(t))
	o.Verbose = true
	var out bytes.Buffer
	err := Run(t.Context(), o, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	m := finalLineRE.FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("last line %q does not match %v", last, finalLineRE)
	}
	for i, name := range []string{"create", "p99", "watchP99", "api/store"} {
		v, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil || v <= 0 {
			t.Errorf("%s = %q: want a positive number (%v)", name, m[i+1], err)
		}
	}
	for _, want := range []string{"300 pods", "api create", "watch ADDED", "store put", "via n3"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	assertCleanedUp(t, o.TempDir)
}

// TestRunCancelled cancels Run while it creates pods: it must return the
// cancellation, print no final line, and leave no process and no file behind.
func TestRunCancelled(t *testing.T) {
	o := testOptions(t, skiffBin(t))
	o.Pods = 100000
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	o.Logger = slog.New(&cancelOn{msg: "creating pods", cancel: cancel, next: o.Logger.Handler()})
	var out bytes.Buffer
	start := time.Now()
	err := Run(ctx, o, &out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want %v", err, context.Canceled)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("Run took %v to notice the cancellation", took)
	}
	if strings.Contains(out.String(), "api: ") {
		t.Errorf("a cancelled run printed a final line:\n%s", out.String())
	}
	assertCleanedUp(t, o.TempDir)
}

// cancelOn cancels half a second after a record with message msg.
type cancelOn struct {
	msg    string
	cancel context.CancelFunc
	next   slog.Handler
}

func (h *cancelOn) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }
func (h *cancelOn) WithAttrs(as []slog.Attr) slog.Handler {
	return &cancelOn{h.msg, h.cancel, h.next.WithAttrs(as)}
}
func (h *cancelOn) WithGroup(g string) slog.Handler {
	return &cancelOn{h.msg, h.cancel, h.next.WithGroup(g)}
}
func (h *cancelOn) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		time.AfterFunc(500*time.Millisecond, h.cancel)
	}
	return h.next.Handle(ctx, r)
}

// TestServerThatExits checks that a server dying at startup is reported with
// its stderr at once, rather than at the start deadline.
func TestServerThatExits(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "skiff")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'skiff: api-addr already in use' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	o := testOptions(t, bin)
	start := time.Now()
	err := Run(t.Context(), o, io.Discard)
	if err == nil {
		t.Fatal("Run with a skiff that exits: nil error")
	}
	for _, want := range []string{"server n1 exited unexpectedly", "exit status 3", "skiff: api-addr already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if took := time.Since(start); took > o.StartTimeout/2 {
		t.Errorf("Run took %v to notice", took)
	}
	assertCleanedUp(t, o.TempDir)
}

// assertCleanedUp checks that Run removed its scratch directory from parent
// and that no process still refers to it.
func assertCleanedUp(t *testing.T, parent string) {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(parent)) {
			t.Errorf("process left running under %s: %s", parent, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in %s: %s", parent, e.Name())
	}
}
