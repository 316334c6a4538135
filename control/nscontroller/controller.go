package nscontroller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/registry"
)

// Retry backoff of a namespace, and the number of namespaces worked on at
// once.
const (
	minRetry = 5 * time.Millisecond
	maxRetry = 30 * time.Second
	workers  = 2
)

// Controller finishes the deletion of namespaces.
type Controller struct {
	reg *registry.Registry
	log *slog.Logger
	// Now is the clock that decides when an object's graceful deletion is
	// overdue (tests move it). It defaults to time.Now.
	Now func() time.Time
	// Informers, if set, is the factory Run takes its informers from, to
	// share them with other controllers of the same run (leadership term):
	// Run starts them with its ctx, and the factory's owner shuts it down.
	// If nil, each Run makes its own and waits for it before returning.
	Informers *informer.Factory
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
	// nsCache is the namespace informer's cache: which namespaces are
	// terminating.
	nsCache cache.Indexer
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

	// Stopping, once ctx has ended (which stops the informers): the queue
	// shuts down, the workers return, then an informer factory of our own
	// is waited for. Nothing is started before the last error return.
	f := c.Informers
	if f == nil {
		f = informer.NewFactory(c.reg, 0, c.log)
		defer f.Shutdown()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer r.queue.ShutDown()

	// Namespaces: the full objects, to know which are terminating. Content:
	// names only, since a change is just a hint to look at its namespace
	// again; a relist after a failed watch shows every object again, which
	// looks again at every terminating namespace.
	type watched struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}
	nsInf := f.ForStore(r.namespaces)
	r.nsCache = nsInf.GetIndexer()
	all := []watched{{nsInf, cache.ResourceEventHandlerFuncs{
		AddFunc:    r.namespaceChanged,
		UpdateFunc: func(_, obj any) { r.namespaceChanged(obj) },
	}}}
	onContent := cache.ResourceEventHandlerFuncs{
		AddFunc:    r.contentChanged,
		UpdateFunc: func(_, obj any) { r.contentChanged(obj) },
		DeleteFunc: r.contentChanged,
	}
	for _, s := range r.content {
		all = append(all, watched{f.NamesFor(s), onContent})
	}
	for _, w := range all {
		h, err := w.inf.AddEventHandler(w.h)
		if err != nil {
			return fmt.Errorf("nscontroller: watch: %w", err)
		}
		defer func() { _ = w.inf.RemoveEventHandler(h) }()
	}
	f.Start(ctx)
	for range workers {
		wg.Go(func() { r.work(ctx) })
	}
	<-ctx.Done()
	return nil
}

// namespaceChanged queues a namespace being deleted.
func (r *run) namespaceChanged(obj any) {
	if m, err := meta.Accessor(obj); err == nil && m.GetDeletionTimestamp() != nil {
		r.queue.Add(m.GetName())
	}
}

// contentChanged looks again at a terminating namespace whose content
// changed: something may have gone, or lost its last finalizer.
func (r *run) contentChanged(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	ns, ok, err := r.nsCache.GetByKey(m.GetNamespace())
	if err != nil || !ok {
		return
	}
	if nm, err := meta.Accessor(ns); err == nil && nm.GetDeletionTimestamp() != nil {
		r.queue.Add(nm.GetName())
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
