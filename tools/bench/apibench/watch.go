package apibench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// arrivals records, per pod, when its ADDED event first arrived.
type arrivals struct {
	at   []atomic.Int64 // clock time + 1, so that 0 means "not yet"
	seen atomic.Int64
}

func newArrivals(n int) *arrivals { return &arrivals{at: make([]atomic.Int64, n)} }

// record notes the pod named name as arrived at t, unless it arrived before.
func (a *arrivals) record(name string, t time.Duration) {
	i, ok := podIndex(name)
	if !ok || i >= len(a.at) {
		return
	}
	if a.at[i].CompareAndSwap(0, int64(t)+1) {
		a.seen.Add(1)
	}
}

// get returns when pod i arrived, and whether it did.
func (a *arrivals) get(i int) (time.Duration, bool) {
	v := a.at[i].Load()
	return time.Duration(v - 1), v != 0
}

// watchers are the watches of a run: on server i, the pods created through
// server i-1 (mod the cluster size), so each event crosses servers.
type watchers struct {
	arr    *arrivals
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// startWatchers opens one watch per server and returns once every watch is
// established, so that no create can precede its watch.
func startWatchers(ctx context.Context, c *cluster, n int, clk clock) (*watchers, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watchers{arr: newArrivals(n), cancel: cancel}
	for i, on := range c.servers {
		from := c.servers[(i+len(c.servers)-1)%len(c.servers)]
		sel := labels.SelectorFromSet(labels.Set{viaLabel: from.Name}).String()
		pods := on.kube.CoreV1().Pods(namespace)
		list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel, Limit: 1})
		if err != nil {
			w.stop()
			return nil, fmt.Errorf("apibench: list pods on %s: %w", on.Name, err)
		}
		wi, err := pods.Watch(ctx, watchOptions(sel, list.ResourceVersion))
		if err != nil {
			w.stop()
			return nil, fmt.Errorf("apibench: watch pods on %s: %w", on.Name, err)
		}
		w.wg.Go(func() {
			if err := follow(ctx, on.kube, wi, sel, list.ResourceVersion, w.arr, clk); err != nil && ctx.Err() == nil {
				w.mu.Lock()
				w.errs = append(w.errs, fmt.Errorf("apibench: watch on %s of pods created via %s: %w", on.Name, from.Name, err))
				w.mu.Unlock()
			}
		})
	}
	return w, nil
}

func watchOptions(sel, rv string) metav1.ListOptions {
	return metav1.ListOptions{LabelSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true}
}

// follow records the ADDED events of wi, and reopens the watch from the last
// resource version seen should the server end it, until ctx ends.
func follow(ctx context.Context, kube kubernetes.Interface, wi watch.Interface, sel, rv string, arr *arrivals, clk clock) error {
	for {
		for ev := range wi.ResultChan() {
			now := clk.now()
			switch ev.Type {
			case watch.Error:
				wi.Stop()
				return apierrors.FromObject(ev.Object)
			case watch.Added:
				if pod, ok := ev.Object.(*corev1.Pod); ok {
					arr.record(pod.Name, now)
				}
			}
			if m, err := meta.Accessor(ev.Object); err == nil && m.GetResourceVersion() != "" {
				rv = m.GetResourceVersion()
			}
		}
		wi.Stop()
		if ctx.Err() != nil {
			return nil
		}
		var err error
		if wi, err = kube.CoreV1().Pods(namespace).Watch(ctx, watchOptions(sel, rv)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reopen from resource version %s: %w", rv, err)
		}
	}
}

// waitFor waits until want pods have arrived, a watch failed, or timeout.
func (w *watchers) waitFor(ctx context.Context, want int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for int(w.arr.seen.Load()) < want && time.Now().Before(deadline) && ctx.Err() == nil && w.err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *watchers) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) == 0 {
		return nil
	}
	return w.errs[0]
}

// stop ends every watch and waits for them.
func (w *watchers) stop() {
	w.cancel()
	w.wg.Wait()
}

// watchResult is the watch latency of every created pod, in all and by the
// server the pod was created through; errs counts the created pods whose
// ADDED event never arrived.
func watchResult(cr phaseResult, arr *arrivals, servers int) (all samples, perServer []samples) {
	var lat []time.Duration
	per := make([][]time.Duration, servers)
	perMissing := make([]int, servers)
	missing := 0
	for i, ok := range cr.ok {
		if !ok {
			continue
		}
		at, arrived := arr.get(i)
		if !arrived {
			missing++
			perMissing[cr.via[i]]++
			continue
		}
		lat = append(lat, at-cr.start[i])
		per[cr.via[i]] = append(per[cr.via[i]], at-cr.start[i])
	}
	for s := range per {
		perServer = append(perServer, newSamples(per[s], perMissing[s], 0))
	}
	return newSamples(lat, missing, 0), perServer
}
