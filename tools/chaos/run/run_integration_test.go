//go:build integration

package run

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/tools/chaos/check"
	"github.com/skiff-sh/skiff/tools/chaos/fault"
	"github.com/skiff-sh/skiff/tools/lab"
)

// TestShortChaosRun brings up a lab of its own, runs about three minutes of
// every fault kind with the workloads and the deployment, and requires every
// checker to pass, every fault to be healed and the lab to be gone after.
// SKIFF_CHAOS_DURATION makes it longer.
func TestShortChaosRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the chaos run needs root (network namespaces, containerd, nftables)")
	}
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Fatal("SKIFF_BIN must name the built skiff binary (make test-integration sets it)")
	}
	cfg := DefaultConfig()
	cfg.Binary = bin
	cfg.Seed = 1
	if d, err := time.ParseDuration(os.Getenv("SKIFF_CHAOS_DURATION")); err == nil {
		cfg.Duration = d
	}
	cfg.Schedule = fault.ScheduleConfig{MinGap: time.Second, MaxGap: 3 * time.Second, MinHold: 3 * time.Second, MaxHold: 6 * time.Second}
	cfg.LabDir = filepath.Join(t.TempDir(), "lab")
	cfg.ReportDir = filepath.Join(t.TempDir(), "report")
	n, _ := rand.Int(rand.Reader, big.NewInt(40))
	cfg.Lab.Name = fmt.Sprintf("chaos%d", n.Int64())
	cfg.Lab.Subnet = netip.MustParsePrefix(fmt.Sprintf("10.99.%d.0/24", 200+n.Int64()))
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if err := lab.DownDir(context.Background(), cfg.LabDir, nil); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	rep, err := Run(t.Context(), cfg, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass() {
		t.Errorf("the run failed: %s\n%s", rep.Line(), rep.Text())
	}
	for _, v := range rep.Verdicts {
		if v.Result == check.Fail {
			t.Errorf("checker %s failed: %s %v", v.Checker, v.Summary, v.Details)
		}
	}
	kinds := map[fault.Kind]bool{}
	for _, f := range rep.Faults {
		if f.Open() {
			t.Errorf("fault %d (%s) was never healed", f.Seq, f.Kind)
		}
		if f.Err != "" || f.HealErr != "" {
			t.Errorf("fault %d (%s): inject %q heal %q", f.Seq, f.Kind, f.Err, f.HealErr)
			continue
		}
		kinds[f.Kind] = true
	}
	t.Logf("fault kinds injected: %d of %d: %v", len(kinds), len(fault.Kinds), kinds)
	if len(kinds) < 5 {
		t.Errorf("only %d fault kinds were injected", len(kinds))
	}
	if rep.Ops < 100 {
		t.Errorf("only %d operations recorded", rep.Ops)
	}
	if _, err := lab.Load(cfg.LabDir, nil); !errors.Is(err, lab.ErrNotUp) {
		t.Errorf("the lab the run brought up is still recorded: %v", err)
	}
}
