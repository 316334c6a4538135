package schedbench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/skiff-sh/skiff/wasm/builtin"
	wasmrt "github.com/skiff-sh/skiff/wasm/runtime"
)

// loadRuns is how many loads of each kind the load line's medians are over.
const loadRuns = 3

// loadTimes is the median time of Host.Load of mod into a fresh host (cfg with its own
// compilation cache directory under tmp): cold with an empty cache directory each run, cached
// with a directory a cold load filled, as a restarted server finds its cache.
func loadTimes(ctx context.Context, cfg wasmrt.Config, mod []byte, tmp string, runs int) (cold, cached time.Duration, err error) {
	var colds, warms []time.Duration
	var warm string
	for i := range runs {
		dir, err := os.MkdirTemp(tmp, "schedbench-cache-*")
		if err != nil {
			return 0, 0, fmt.Errorf("load: %w", err)
		}
		defer os.RemoveAll(dir)
		d, err := timeLoad(ctx, cfg, mod, dir)
		if err != nil {
			return 0, 0, fmt.Errorf("load with an empty cache (run %d): %w", i+1, err)
		}
		colds = append(colds, d)
		if warm == "" {
			warm = dir
		}
	}
	for i := range runs {
		d, err := timeLoad(ctx, cfg, mod, warm)
		if err != nil {
			return 0, 0, fmt.Errorf("load with a warm cache (run %d): %w", i+1, err)
		}
		warms = append(warms, d)
	}
	return median(colds), median(warms), nil
}

// timeLoad times Load into a fresh host over the cache directory dir.
func timeLoad(ctx context.Context, cfg wasmrt.Config, mod []byte, dir string) (time.Duration, error) {
	cfg.CacheDir = dir
	h, err := wasmrt.New(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer h.Close(context.WithoutCancel(ctx))
	start := time.Now()
	if _, err := h.Load(ctx, builtin.SchedulerName, mod, wasmrt.ModuleOptions{}); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// loadLine is the report's line before the last.
func loadLine(cold, cached time.Duration) string {
	return fmt.Sprintf("load: cold=%sms cached=%sms", msNum(cold), msNum(cached))
}
