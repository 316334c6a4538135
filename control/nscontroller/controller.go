package nscontroller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/control/registry"
)

// Timings: retry backoff of a namespace, backoff between failed watches,
// and the number of namespaces worked on at once.
const (
	minRetry        = 5 * time.Millisecond
	maxRetry        = 30 * time.Second
	minWatchBackoff = 100 * time.Millisecond
	maxWatchBackoff = 5 * time.Second
	workers         = 2
)

// Controller finishes the deletion of namespaces.
type Controller struct {
	reg *registry.Registry
	log *slog.Logger
	// Now is the clock that decides when an object's graceful deletion is
	// overdue (tests move it). It defaults to time.Now.
	Now func() time.Time
}

// New returns a namespace controller on reg. A nil logger discards.
func New(reg *registry.Registry, logger *slog.Logger) *Controller {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Controller{reg: reg, log: logger.With("controller", "namespace"), Now: time.Now}
}

// run is the state of one Run.
type run struct {
	*Controller
	namespaces *registry.Store
	content    []*registry.Store // every namespaced resource, one per store prefix
	queue      workqueue.TypedRateLimitingInterface[string]

	mu          sync.Mutex
	terminating map[string]bool // namespaces with a deletionTimestamp
}

// Run works until ctx ends, then returns nil once every goroutine it
// started has stopped. It fails at once only if the registry serves no
// namespaces.
func (c *Controller) Run(ctx context.Context) error {
	r := &run{
		Controller: c,
		namespaces: c.reg.Namespaces(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](minRetry, maxRetry),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
		terminating: map[string]bool{},
	}
	if r.namespaces == nil {
		return errors.New("nscontroller: the registry serves no namespaces")
	}
	prefixes := map[string]bool{}
	for _, s := range c.reg.Stores() {
		if res := s.Resource(); res.Namespaced && !prefixes[res.Prefix] {
			prefixes[res.Prefix] = true
			r.content = append(r.content, s)
		}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer r.queue.ShutDown()
	wg.Go(func() { r.follow(ctx, r.namespaces, true, r.namespaceChanged, r.forgetTerminating) })
	for _, s := range r.content {
		wg.Go(func() { r.follow(ctx, s, false, r.contentChanged, r.requeueTerminating) })
	}
	for range workers {
		wg.Go(func() { r.work(ctx) })
	}
	<-ctx.Done()
	return nil
}

// namespaceChanged queues a namespace being deleted.
func (r *run) namespaceChanged(t watch.EventType, m metav1.Object) {
	deleting := t != watch.Deleted && m.GetDeletionTimestamp() != nil
	r.mu.Lock()
	if deleting {
		r.terminating[m.GetName()] = true
	} else {
		delete(r.terminating, m.GetName())
	}
	r.mu.Unlock()
	if deleting {
		r.queue.Add(m.GetName())
	}
}

// contentChanged looks again at a terminating namespace whose content
// changed: something may have gone, or lost its last finalizer.
func (r *run) contentChanged(_ watch.EventType, m metav1.Object) {
	r.mu.Lock()
	terminating := r.terminating[m.GetNamespace()]
	r.mu.Unlock()
	if terminating {
		r.queue.Add(m.GetNamespace())
	}
}

// forgetTerminating drops what the namespace watch knew before it starts
// again with every namespace.
func (r *run) forgetTerminating() {
	r.mu.Lock()
	clear(r.terminating)
	r.mu.Unlock()
}

// requeueTerminating looks again at every terminating namespace, after a
// content watch may have missed events.
func (r *run) requeueTerminating() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range r.terminating {
		r.queue.Add(name)
	}
}

// follow watches s and hands every event to handle until ctx ends. With
// initial, each watch starts with the current objects (as ADDED);
// otherwise it starts at the current revision. After a failed watch it
// calls resumed and watches again.
func (r *run) follow(ctx context.Context, s *registry.Store, initial bool, handle func(watch.EventType, metav1.Object), resumed func()) {
	backoff := minWatchBackoff
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			resumed()
		}
		events, err := r.watchOnce(ctx, s, initial, handle)
		if ctx.Err() != nil {
			return
		}
		if events > 0 {
			backoff = minWatchBackoff
		}
		r.log.Warn("nscontroller: watching again", "resource", s.Resource().Plural, "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxWatchBackoff)
	}
}

func (r *run) watchOnce(ctx context.Context, s *registry.Store, initial bool, handle func(watch.EventType, metav1.Object)) (int, error) {
	opts := metav1.ListOptions{}
	if !initial {
		// Start at the current revision: a one-item list tells it.
		list, err := s.List(ctx, "", metav1.ListOptions{Limit: 1})
		if err != nil {
			return 0, fmt.Errorf("nscontroller: list %s: %w", s.Resource().Plural, err)
		}
		lm, err := meta.ListAccessor(list)
		if err != nil {
			return 0, fmt.Errorf("nscontroller: list %s: %w", s.Resource().Plural, err)
		}
		opts.ResourceVersion = lm.GetResourceVersion()
	}
	var w watch.Interface
	var err error
	if initial {
		w, err = s.Watch(ctx, "", opts)
	} else {
		// Content is only a hint to look at its namespace again: no need to
		// decode it.
		rv, _ := strconv.ParseInt(opts.ResourceVersion, 10, 64)
		w, err = s.WatchNames(ctx, rv)
	}
	if err != nil {
		return 0, fmt.Errorf("nscontroller: watch %s: %w", s.Resource().Plural, err)
	}
	defer w.Stop()
	events := 0
	for {
		select {
		case <-ctx.Done():
			return events, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return events, fmt.Errorf("nscontroller: watch %s closed", s.Resource().Plural)
			}
			events++
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				if m, err := meta.Accessor(ev.Object); err == nil {
					handle(ev.Type, m)
				}
			case watch.Error:
				if st, ok := ev.Object.(*metav1.Status); ok {
					return events, fmt.Errorf("nscontroller: watch %s: %w", s.Resource().Plural, &apierrors.StatusError{ErrStatus: *st})
				}
				return events, fmt.Errorf("nscontroller: watch %s failed", s.Resource().Plural)
			}
		}
	}
}

// work syncs queued namespaces until the queue shuts down.
func (r *run) work(ctx context.Context) {
	for {
		name, shutdown := r.queue.Get()
		if shutdown {
			return
		}
		after, err := r.sync(ctx, name)
		switch {
		case ctx.Err() != nil:
			r.queue.Forget(name)
		case err != nil:
			r.log.Info("nscontroller: will retry", "namespace", name, "err", err, "retries", r.queue.NumRequeues(name))
			r.queue.AddRateLimited(name)
		case after > 0:
			r.queue.Forget(name)
			r.queue.AddAfter(name, after)
		default:
			r.queue.Forget(name)
		}
		r.queue.Done(name)
	}
}
