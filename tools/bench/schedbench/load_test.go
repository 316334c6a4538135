package schedbench

import (
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/control/scheduler"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
)

var loadLineRE = regexp.MustCompile(`^load: cold=([0-9]+\.[0-9])ms cached=([0-9]+\.[0-9])ms$`)

func TestLoadLine(t *testing.T) {
	tests := []struct {
		cold, cached time.Duration
		want         string
	}{
		{1234567 * time.Microsecond, 12300 * time.Microsecond, "load: cold=1234.6ms cached=12.3ms"},
		{0, 900 * time.Microsecond, "load: cold=0.0ms cached=0.9ms"},
	}
	for _, tt := range tests {
		got := loadLine(tt.cold, tt.cached)
		if got != tt.want || !loadLineRE.MatchString(got) {
			t.Errorf("loadLine(%v, %v) = %q, want %q matching %v", tt.cold, tt.cached, got, tt.want, loadLineRE)
		}
	}
}

// TestLoadTimes loads the built-in scheduler cold and cached: the cached load skips compiling,
// so it must be faster, and it leaves no cache directories behind.
func TestLoadTimes(t *testing.T) {
	tmp := t.TempDir()
	cold, cached, err := loadTimes(t.Context(), scheduler.BuiltinConfig(), builtintest.Scheduler(t), tmp, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(loadLine(cold, cached))
	if cold <= 0 || cached <= 0 || cached >= cold {
		t.Errorf("cold %v, cached %v: want both positive and the cached load faster", cold, cached)
	}
	if m := loadLineRE.FindStringSubmatch(loadLine(cold, cached)); m == nil {
		t.Errorf("line %q does not match", loadLine(cold, cached))
	} else if v, err := strconv.ParseFloat(m[2], 64); err != nil || v < 0 {
		t.Errorf("cached = %q", m[2])
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
		t.Errorf("left behind %v (%v)", left, err)
	}
}

func TestMedian(t *testing.T) {
	if m := median([]time.Duration{5, 1, 3}); m != 3 {
		t.Errorf("median = %v, want 3", m)
	}
}
