package podbench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// Labels on every pod the benchmark makes.
const (
	labelApp   = "app.kubernetes.io/name"
	labelBatch = "podbench.skiff.sh/batch"
)

// tracker gathers what the pod and event watches deliver during one batch.
type tracker struct {
	batch  string // the label value of the batch's pods
	mu     sync.Mutex
	ready  map[string]time.Time   // pod name → first Ready=True seen
	last   map[string]*corev1.Pod // pod name → latest object seen
	events map[types.UID]*podEvents
	poke   chan struct{}
}

func newTracker(batch string) *tracker {
	return &tracker{batch: batch, ready: map[string]time.Time{}, last: map[string]*corev1.Pod{},
		events: map[types.UID]*podEvents{}, poke: make(chan struct{}, 1)}
}

func (t *tracker) notify() {
	select {
	case t.poke <- struct{}{}:
	default:
	}
}

func (t *tracker) pod(typ watch.EventType, obj runtime.Object, at time.Time) {
	p, ok := obj.(*corev1.Pod)
	if !ok || typ == watch.Deleted || p.Labels[labelBatch] != t.batch {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last[p.Name] = p
	if _, seen := t.ready[p.Name]; !seen && podReady(p) {
		t.ready[p.Name] = at
		t.notify()
	}
}

func (t *tracker) event(typ watch.EventType, obj runtime.Object, _ time.Time) {
	ev, ok := obj.(*corev1.Event)
	if !ok || typ == watch.Deleted || ev.InvolvedObject.Kind != "Pod" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.events[ev.InvolvedObject.UID]
	if e == nil {
		e = &podEvents{}
		t.events[ev.InvolvedObject.UID] = e
	}
	e.add(ev)
	t.notify()
}

// notReady lists the names that have not been seen Ready.
func (t *tracker) notReady(names []string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, n := range names {
		if _, ok := t.ready[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

// eventsComplete says whether every uid's node events have arrived.
func (t *tracker) eventsComplete(uids []types.UID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, u := range uids {
		if e := t.events[u]; e == nil || !e.complete() {
			return false
		}
	}
	return true
}

// describe says where each named pod stands, for an error.
func (t *tracker) describe(names []string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for _, n := range names {
		p := t.last[n]
		if p == nil {
			parts = append(parts, n+" (never seen by the watch)")
			continue
		}
		node := p.Spec.NodeName
		if node == "" {
			node = "unscheduled"
		}
		var why []string
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue && c.Reason != "" {
				why = append(why, fmt.Sprintf("%s=%s %s", c.Type, c.Reason, c.Message))
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				why = append(why, fmt.Sprintf("%s waiting: %s %s", cs.Name, w.Reason, w.Message))
			}
		}
		parts = append(parts, fmt.Sprintf("%s on %s, %s [%s]", n, node, p.Status.Phase, strings.TrimSpace(strings.Join(why, "; "))))
	}
	return strings.Join(parts, "; ")
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// newPod is a bare pod of one container running cfg.Image; node pins it when set.
func (b *bench) newPod(batch, name, node string) *corev1.Pod {
	grace := int64(1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns,
			Labels: map[string]string{labelApp: "podbench", labelBatch: batch}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "hello", Image: b.cfg.Image, ImagePullPolicy: corev1.PullIfNotPresent,
			}},
		},
	}
}

// runBatch creates pods (all of one batch label) at once with cfg.Workers goroutines, both
// watches open before the first create, and returns one sample per pod once every pod is
// Ready and its node's events have arrived (or cfg.EventWait has passed). It also returns how
// long from the first create to the last Ready.
func (b *bench) runBatch(ctx context.Context, batch string, pods []*corev1.Pod) ([]sample, time.Duration, error) {
	podsAPI := b.client.CoreV1().Pods(b.ns)
	eventsAPI := b.client.CoreV1().Events(b.ns)
	sel := labelBatch + "=" + batch
	pl, err := podsAPI.List(ctx, metav1.ListOptions{LabelSelector: sel, Limit: 1})
	if err != nil {
		return nil, 0, fmt.Errorf("podbench: listing pods of batch %s: %w", batch, err)
	}
	if len(pl.Items) > 0 {
		return nil, 0, fmt.Errorf("podbench: batch %s: pods of it exist already (%s)", batch, pl.Items[0].Name)
	}
	el, err := eventsAPI.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return nil, 0, fmt.Errorf("podbench: listing events of namespace %s: %w", b.ns, err)
	}

	tr := newTracker(batch)
	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	podErr, err := startFollow(wctx, "pods", pl.ResourceVersion, func(ctx context.Context, rv string) (watch.Interface, error) {
		return podsAPI.Watch(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
	}, tr.pod)
	if err != nil {
		return nil, 0, err
	}
	defer func() { stopWatches(); <-podErr }()
	evErr, err := startFollow(wctx, "events", el.ResourceVersion, func(ctx context.Context, rv string) (watch.Interface, error) {
		return eventsAPI.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	}, tr.event)
	if err != nil {
		return nil, 0, err
	}
	defer func() { stopWatches(); <-evErr }()
	// A watch ends early only with an error, or when ctx ended.
	watchEnded := func(err error) error {
		if err == nil {
			err = ctx.Err()
		}
		return fmt.Errorf("podbench: batch %s: %w", batch, err)
	}

	rctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	creates, uids, err := b.createAll(rctx, pods)
	if err != nil {
		return nil, 0, err
	}
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	first := slices.MinFunc(creates, func(a, b time.Time) int { return a.Compare(b) })
	for {
		left := tr.notReady(names)
		if len(left) == 0 {
			break
		}
		select {
		case <-tr.poke:
		case err := <-podErr:
			return nil, 0, watchEnded(err)
		case err := <-evErr:
			return nil, 0, watchEnded(err)
		case <-rctx.Done():
			if ctx.Err() != nil {
				return nil, 0, fmt.Errorf("podbench: batch %s: %w", batch, ctx.Err())
			}
			return nil, 0, fmt.Errorf("podbench: batch %s: %d of %d pods not Ready within %v: %s",
				batch, len(left), len(pods), b.cfg.Timeout, tr.describe(left))
		}
	}
	evTimer := time.NewTimer(b.cfg.EventWait)
	defer evTimer.Stop()
wait:
	for !tr.eventsComplete(uids) {
		select {
		case <-tr.poke:
		case err := <-podErr:
			return nil, 0, watchEnded(err)
		case err := <-evErr:
			return nil, 0, watchEnded(err)
		case <-evTimer.C:
			b.log.Warn("podbench: not every pod's node events arrived; those pods are left out of the breakdown", "batch", batch, "waited", b.cfg.EventWait)
			break wait
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("podbench: batch %s: %w", batch, ctx.Err())
		}
	}

	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]sample, len(pods))
	var last time.Time
	for i, p := range pods {
		s := sample{name: p.Name, create: creates[i], ready: tr.ready[p.Name]}
		if lp := tr.last[p.Name]; lp != nil {
			s.node = lp.Spec.NodeName
		}
		if e := tr.events[uids[i]]; e != nil {
			s.ev = *e
		}
		if s.ready.After(last) {
			last = s.ready
		}
		out[i] = s
	}
	return out, last.Sub(first), nil
}

// createAll creates pods from cfg.Workers goroutines and returns, per pod, the client's clock
// just before its request and the uid the API gave it.
func (b *bench) createAll(ctx context.Context, pods []*corev1.Pod) ([]time.Time, []types.UID, error) {
	creates := make([]time.Time, len(pods))
	uids := make([]types.UID, len(pods))
	errs := make([]error, len(pods))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(b.cfg.Workers, len(pods)) {
		wg.Go(func() {
			for i := range next {
				creates[i] = time.Now()
				p, err := b.client.CoreV1().Pods(b.ns).Create(ctx, pods[i], metav1.CreateOptions{})
				if err != nil {
					errs[i] = fmt.Errorf("podbench: creating pod %s/%s: %w", b.ns, pods[i].Name, err)
					continue
				}
				uids[i] = p.UID
			}
		})
	}
	for i := range pods {
		next <- i
	}
	close(next)
	wg.Wait()
	return creates, uids, errors.Join(errs...)
}

// deleteBatch deletes the pods of a batch and waits until the API holds none of them (their
// nodes confirmed termination), within cfg.Timeout.
func (b *bench) deleteBatch(ctx context.Context, batch string) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	podsAPI := b.client.CoreV1().Pods(b.ns)
	sel := labelBatch + "=" + batch
	l, err := podsAPI.List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("podbench: listing pods of batch %s: %w", batch, err)
	}
	left := map[string]bool{}
	for _, p := range l.Items {
		left[p.Name] = true
	}
	if len(left) == 0 {
		return nil
	}
	var mu sync.Mutex
	done := make(chan struct{})
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	werr, err := startFollow(wctx, "pods", l.ResourceVersion, func(ctx context.Context, rv string) (watch.Interface, error) {
		return podsAPI.Watch(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
	}, func(t watch.EventType, obj runtime.Object, _ time.Time) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Labels[labelBatch] != batch {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if t == watch.Deleted {
			delete(left, p.Name)
		} else {
			left[p.Name] = true
		}
		if len(left) == 0 {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	})
	if err != nil {
		return err
	}
	defer func() { stop(); <-werr }()

	errs := make([]error, len(l.Items))
	var wg sync.WaitGroup
	for i, p := range l.Items {
		wg.Go(func() {
			err := podsAPI.Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err != nil && !apierrors.IsNotFound(err) {
				errs[i] = fmt.Errorf("podbench: deleting pod %s/%s: %w", b.ns, p.Name, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case err := <-werr:
		if err == nil {
			err = ctx.Err()
		}
		return fmt.Errorf("podbench: waiting for the pods of batch %s to go: %w", batch, err)
	case <-ctx.Done():
		mu.Lock()
		names := make([]string, 0, len(left))
		for n := range left {
			names = append(names, n)
		}
		mu.Unlock()
		sort.Strings(names)
		return fmt.Errorf("podbench: %d pods of batch %s not gone within %v: %s", len(names), batch, b.cfg.Timeout, strings.Join(names, ", "))
	}
}
