//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/tools/lab"
)

// servers is what `skiff cluster status` reports, through the kubeconfig's server.
func (c *cluster) servers(ctx context.Context) ([]apiserver.ServerStatus, error) {
	raw, err := c.client.Discovery().RESTClient().Get().AbsPath(apiserver.StatusPath).DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var out []apiserver.ServerStatus
	return out, json.Unmarshal(raw, &out)
}

// writeLoop creates a ConfigMap every 100 ms until stopped; a write may be retried once
// after a second (a client's retry), and what still fails is counted.
type writeLoop struct {
	stop         context.CancelFunc
	done         chan struct{}
	mu           sync.Mutex
	ok, failed   int
	firstFailure error
}

func (c *cluster) startWrites(ctx context.Context) *writeLoop {
	ctx, cancel := context.WithCancel(ctx)
	w := &writeLoop{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ctx.Err() == nil; i++ {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("quorum-%d", i)}}
			var err error
			for attempt := range 2 {
				if attempt > 0 {
					time.Sleep(time.Second)
				}
				wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
				_, err = c.client.CoreV1().ConfigMaps("default").Create(wctx, cm, metav1.CreateOptions{})
				wcancel()
				if err == nil || ctx.Err() != nil {
					break
				}
			}
			w.mu.Lock()
			switch {
			case ctx.Err() != nil:
			case err != nil:
				w.failed++
				if w.firstFailure == nil {
					w.firstFailure = err
				}
			default:
				w.ok++
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *writeLoop) finish() (ok, failed int, first error) {
	w.stop()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok, w.failed, w.firstFailure
}

// Issue 6's first demonstration: three VMs started with only --bootstrap-expect 3 and --join
// form one cluster; a fourth server joins as a non-voter and is promoted; a dead server is
// removed after the configured time; quorum is never lost.
func TestServersFormGrowAndShrink(t *testing.T) {
	c := startClusterWith(t, func(cfg *lab.Config) { cfg.VMs = 4 },
		lab.ClusterConfig{Servers: 4, Start: 3, BootstrapExpect: 3, DeadServerCleanup: 10 * time.Second})
	ctx := t.Context()
	census := func(servers []apiserver.ServerStatus) (voters, nonvoters int, leader string) {
		for _, s := range servers {
			if s.Voter {
				voters++
			} else {
				nonvoters++
			}
			if s.State == "Leader" {
				leader = s.Name
			}
		}
		return voters, nonvoters, leader
	}
	c.eventually("three voters with a leader", 30*time.Second, func() error {
		servers, err := c.servers(ctx)
		if err != nil {
			return err
		}
		if v, nv, l := census(servers); v != 3 || nv != 0 || l == "" {
			return fmt.Errorf("%d voters, %d non-voters, leader %q: %+v", v, nv, l, servers)
		}
		return nil
	})
	writes := c.startWrites(ctx)

	// The fourth server.
	if _, err := c.lab.StartCluster(ctx, lab.ClusterConfig{Binary: c.cc.Binary, Servers: 4, BootstrapExpect: 3, DeadServerCleanup: 10 * time.Second}); err != nil {
		t.Fatalf("start vm4: %v", err)
	}
	sawNonvoter := false
	c.eventually("vm4 promoted", 60*time.Second, func() error {
		servers, err := c.servers(ctx)
		if err != nil {
			return err
		}
		for _, s := range servers {
			if s.Name == "vm4" && !s.Voter {
				sawNonvoter = true
			}
		}
		if v, _, _ := census(servers); v != 4 {
			return fmt.Errorf("%d voters: %+v", v, servers)
		}
		return nil
	})
	if !sawNonvoter {
		t.Error("vm4 was never a non-voter before its promotion")
	}

	// vm4 dies and stays dead: after the cleanup time it leaves raft.
	if err := c.lab.Stop("vm4", "skiff", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	c.eventually("dead vm4 removed", 60*time.Second, func() error {
		servers, err := c.servers(ctx)
		if err != nil {
			return err
		}
		if v, nv, l := census(servers); v != 3 || nv != 0 || l == "" {
			return fmt.Errorf("%d voters, %d non-voters, leader %q", v, nv, l)
		}
		return nil
	})
	t.Logf("dead vm4 removed from raft %v after the kill (cleanup time 10s)", time.Since(killed).Round(time.Second))
	ok, failed, first := writes.finish()
	t.Logf("writes during the growth and the removal: %d ok, %d failed", ok, failed)
	if failed > 0 || ok == 0 {
		t.Errorf("quorum lost: %d writes failed (first: %v), %d ok", failed, first, ok)
	}
}
