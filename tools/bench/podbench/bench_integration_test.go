//go:build integration

package podbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/tools/lab"
)

// tWriter sends log lines to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// upLab brings up a three-VM lab with a registry and Skiff on it, under a name and subnet no
// user's lab has ("skpb" + 3 hex digits, 10.99.150-199.0/24), and downs it in t.Cleanup, also
// when the test fails.
func upLab(t *testing.T) *lab.Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, containerd)")
	}
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Fatal("SKIFF_BIN is unset: point it at a built skiff binary (make build; make test-integration sets it)")
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	n, _ := rand.Int(rand.Reader, big.NewInt(48))
	c := lab.DefaultConfig()
	c.Dir = filepath.Join(t.TempDir(), "lab")
	c.Name = "skpb" + hex.EncodeToString(b)[:3]
	// 10.99.101-148: every lab test has a range of its own (e2e 150-199, lab 200-249,
	// chaos 60-99), so tests that run at once never pick the same subnet.
	c.Subnet = netip.MustParsePrefix(fmt.Sprintf("10.99.%d.0/24", 101+n.Int64()))
	c.ImageCache = t.TempDir()
	c.StopGrace = 2 * time.Second
	logger := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l, err := lab.Up(t.Context(), c, logger)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	if _, err := l.StartCluster(t.Context(), lab.ClusterConfig{Binary: bin, LogLevel: "warn"}); err != nil {
		t.Fatalf("starting Skiff in the lab: %v", err)
	}
	return l
}

func TestBenchPods(t *testing.T) {
	l := upLab(t)
	run := func(t *testing.T, pods, rounds int) string {
		cfg := DefaultConfig()
		cfg.Kubeconfig = l.KubeconfigPath()
		cfg.Pods, cfg.Rounds = pods, rounds
		cfg.Namespace = fmt.Sprintf("podbench-%d-%d", pods, rounds)
		cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
		var out bytes.Buffer
		start := time.Now()
		if err := Run(t.Context(), cfg, &out); err != nil {
			t.Fatalf("Run: %v\n%s", err, out.String())
		}
		t.Logf("Run took %v; report:\n%s", time.Since(start).Round(time.Millisecond), out.String())
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if last := lines[len(lines)-1]; !regexp.MustCompile(`^pods: create->ready p50=\d+ms p99=\d+ms \(netns\+veth p50=\d+ms, container start p50=\d+ms\)$`).MatchString(last) {
			t.Errorf("last line %q is not the issue's format", last)
		}
		for r := 1; r <= rounds; r++ {
			if want := fmt.Sprintf("round %d: %d pods Ready in ", r, pods); !strings.Contains(out.String(), want) {
				t.Errorf("report lacks %q", want)
			}
		}
		for _, want := range []string{fmt.Sprintf("all rounds: %d pods", pods*rounds), "anchor: ", "goal: p99 create->ready <= 2000ms"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("report lacks %q", want)
			}
		}
		// Every pod's node events arrived and the image was present.
		for _, bad := range []string{"without events", "pulled the image", "only to the second"} {
			if strings.Contains(out.String(), bad) {
				t.Errorf("report says %q", bad)
			}
		}
		// Nothing left behind: the namespace (and with it every pod) is gone.
		client := kubeClient(t, l.KubeconfigPath())
		if _, err := client.CoreV1().Namespaces().Get(t.Context(), cfg.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s after the run: %v, want not found", cfg.Namespace, err)
		}
		if pl, err := client.CoreV1().Pods(cfg.Namespace).List(t.Context(), metav1.ListOptions{}); err != nil || len(pl.Items) != 0 {
			t.Errorf("pods in %s after the run: %v, %v", cfg.Namespace, pl, err)
		}
		return lines[len(lines)-1]
	}
	t.Run("pods=5", func(t *testing.T) { run(t, 5, 1) })
	// The run (30 pods x 3 rounds) takes a few minutes more: PODBENCH_FULL=1.
	t.Run("pods=30", func(t *testing.T) {
		if os.Getenv("PODBENCH_FULL") == "" {
			t.Skip("set PODBENCH_FULL=1 for the issue's 30 pods x 3 rounds")
		}
		run(t, 30, 3)
	})
}

func kubeClient(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Kubeconfig = kubeconfig
	c, err := newClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
