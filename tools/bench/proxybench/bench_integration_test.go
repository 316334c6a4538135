//go:build integration

package proxybench

import (
	"bytes"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var finalLineRE = regexp.MustCompile(`^proxy: full sync (\d+) svcs=(\d+)ms one change=(\d+)ms$`)

// TestRun runs the benchmark small and checks the form of its report, not the speed.
func TestRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cfg := DefaultConfig()
	cfg.Services = []int{100, 50}
	cfg.Endpoints = 2
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	var out bytes.Buffer
	err := Run(t.Context(), cfg, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	m := finalLineRE.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last line %q does not match %v", lines[len(lines)-1], finalLineRE)
	}
	if m[1] != "100" {
		t.Errorf("final line reports %s services, want the largest size, 100", m[1])
	}
	if v, _ := strconv.Atoi(m[2]); v > 5000 {
		t.Errorf("full sync of 100 services took %dms", v)
	}
	for _, want := range []string{"services=100    full sync:", "services=50     one change:", "ratio"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
