package gc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/registry"
)

// Retry backoff of one item, and the number of workers per queue.
const (
	minRetry = 5 * time.Millisecond
	maxRetry = 30 * time.Second
	workers  = 4
)

// ignored are the resources the collector does not watch, as
// kube-controller-manager's DefaultIgnoredResources.
var ignored = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// Collector is the garbage collector of one registry.
type Collector struct {
	reg *registry.Registry
	log *slog.Logger
	// Informers, if set, is the factory Run takes its informers from, to
	// share them with other controllers of the same run (leadership term):
	// Run starts them with its ctx, and the factory's owner shuts it down.
	// If nil, each Run makes its own and waits for it before returning.
	Informers *informer.Factory
}

// New returns a collector of the objects of reg. A nil logger discards.
func New(reg *registry.Registry, logger *slog.Logger) *Collector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Collector{reg: reg, log: logger.With("controller", "garbage-collector")}
}

// run is the state of one Run.
type run struct {
	log      *slog.Logger
	stores   []*registry.Store
	kinds    map[schema.GroupKind]*registry.Store
	graph    *graph
	toDelete workqueue.TypedRateLimitingInterface[types.UID]
	toOrphan workqueue.TypedRateLimitingInterface[types.UID]
}

func newQueue(name string) workqueue.TypedRateLimitingInterface[types.UID] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](minRetry, maxRetry),
		workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: name})
}

// Run collects garbage until ctx ends, then returns nil once every
// goroutine it started has stopped. Work starts once every resource has
// been listed, so that the graph is whole before owners are judged by it.
func (c *Collector) Run(ctx context.Context) error {
	r := &run{
		log:      c.log,
		kinds:    map[schema.GroupKind]*registry.Store{},
		toDelete: newQueue("gc_attempt_to_delete"),
		toOrphan: newQueue("gc_attempt_to_orphan"),
	}
	r.graph = newGraph(r.toDelete.Add, r.toOrphan.Add)
	prefixes := map[string]bool{}
	for _, s := range c.reg.Stores() {
		res := s.Resource()
		if gk := res.Kind.GroupKind(); r.kinds[gk] == nil {
			r.kinds[gk] = s
		}
		// Two resources on one prefix are one set of objects: watch it once.
		// Events are not collected (kube-controller-manager ignores them too):
		// they are many, short-lived and own nothing.
		if !prefixes[res.Prefix] && !ignored[res.GroupResource()] {
			prefixes[res.Prefix] = true
			r.stores = append(r.stores, s)
		}
	}

	// Stopping, once ctx has ended (which stops the informers): the queues
	// shut down, the workers return, then an informer factory of our own
	// is waited for. Nothing is started before the last error return.
	f := c.Informers
	if f == nil {
		f = informer.NewFactory(c.reg, 0, c.log)
		defer f.Shutdown()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer r.toOrphan.ShutDown()
	defer r.toDelete.ShutDown()

	synced := make([]cache.DoneChecker, 0, len(r.stores))
	for _, s := range r.stores {
		inf := f.ForStore(s)
		h, err := inf.AddEventHandler(r.graph.handler(s))
		if err != nil {
			return fmt.Errorf("gc: watch %s: %w", s.Resource().Plural, err)
		}
		defer func() { _ = inf.RemoveEventHandler(h) }()
		synced = append(synced, h.HasSyncedChecker())
	}
	f.Start(ctx)
	if !cache.WaitFor(ctx, "", synced...) {
		return nil
	}
	c.log.Info("gc: graph synced", "resources", len(r.stores), "nodes", r.graph.size())

	for range workers {
		wg.Go(func() { r.work(ctx, r.toDelete, r.attemptToDelete) })
		wg.Go(func() { r.work(ctx, r.toOrphan, r.attemptToOrphan) })
	}
	<-ctx.Done()
	return nil
}

// work processes items of q until it shuts down: an error retries the item
// later, with backoff.
func (r *run) work(ctx context.Context, q workqueue.TypedRateLimitingInterface[types.UID], process func(context.Context, types.UID) error) {
	for {
		uid, shutdown := q.Get()
		if shutdown {
			return
		}
		err := process(ctx, uid)
		switch {
		case err == nil || ctx.Err() != nil:
			q.Forget(uid)
		default:
			r.log.Info("gc: will retry", "uid", uid, "err", err, "retries", q.NumRequeues(uid))
			q.AddRateLimited(uid)
		}
		q.Done(uid)
	}
}
