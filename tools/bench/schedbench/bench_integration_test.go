//go:build integration

package schedbench

import (
	"bytes"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
)

var finalLineRE = regexp.MustCompile(`^scheduler: wasm=(\d+) pods/s native=(\d+) pods/s ratio=([0-9.]+) p99=([0-9.]+)ms at (\d+) nodes$`)

// TestRun runs the benchmark small, on disk with fsync, and checks the form of its last line and
// that both policies bound every pod, not the speed it reports.
func TestRun(t *testing.T) {
	o := DefaultOptions()
	o.Nodes = []int{20, 50}
	o.Pods = 200
	o.Module = builtintest.Scheduler(t)
	o.TempDir = t.TempDir()
	o.DecisionTime = 100 * time.Millisecond
	o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	var out bytes.Buffer
	err := Run(t.Context(), o, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) < 2 || !loadLineRE.MatchString(lines[len(lines)-2]) {
		t.Errorf("line before the last is not the load line (%v): %q", loadLineRE, lines[max(0, len(lines)-2)])
	}
	m := finalLineRE.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last line %q does not match %v", lines[len(lines)-1], finalLineRE)
	}
	for i, name := range []string{"wasm", "native", "ratio", "p99"} {
		if v, err := strconv.ParseFloat(m[i+1], 64); err != nil || v <= 0 {
			t.Errorf("%s = %q: want a positive number (%v)", name, m[i+1], err)
		}
	}
	if m[5] != "50" {
		t.Errorf("final line reports %s nodes, want 50", m[5])
	}
	for _, want := range []string{"nodes=20     wasm   200 pods bound", "nodes=50     native 200 pods bound", "fsync on"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
