package informer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-sh/skiff/control/registry"
)

// Factory shares one informer per store (and one names informer per store)
// among the controllers of one run, as informers.SharedInformerFactory
// does for API clients.
type Factory struct {
	reg    *registry.Registry
	resync time.Duration
	log    *slog.Logger

	mu       sync.Mutex
	full     map[*registry.Store]cache.SharedIndexInformer
	names    map[*registry.Store]cache.SharedIndexInformer
	started  map[cache.SharedIndexInformer]bool
	shutdown bool
	wg       sync.WaitGroup
}

// NewFactory returns a factory of informers over the stores of reg, with a
// default resync period (0: none). The informers log to logger (nil:
// klog's default).
func NewFactory(reg *registry.Registry, resync time.Duration, logger *slog.Logger) *Factory {
	return &Factory{
		reg: reg, resync: resync, log: logger,
		full:    map[*registry.Store]cache.SharedIndexInformer{},
		names:   map[*registry.Store]cache.SharedIndexInformer{},
		started: map[cache.SharedIndexInformer]bool{},
	}
}

// For returns the shared informer of a resource the registry serves.
func (f *Factory) For(gvr schema.GroupVersionResource) (cache.SharedIndexInformer, error) {
	s := f.reg.Store(gvr)
	if s == nil {
		return nil, fmt.Errorf("informer: resource %s is not served", gvr)
	}
	return f.ForStore(s), nil
}

// ForStore returns the shared informer of the objects of s.
func (f *Factory) ForStore(s *registry.Store) cache.SharedIndexInformer {
	return f.shared(f.full, s, New)
}

// NamesFor returns the shared names informer of s: namespace, name and
// resourceVersion of each object, read from store keys (see NewNames).
func (f *Factory) NamesFor(s *registry.Store) cache.SharedIndexInformer {
	return f.shared(f.names, s, NewNames)
}

func (f *Factory) shared(m map[*registry.Store]cache.SharedIndexInformer, s *registry.Store, newInformer func(*registry.Store, time.Duration) cache.SharedIndexInformer) cache.SharedIndexInformer {
	f.mu.Lock()
	defer f.mu.Unlock()
	inf := m[s]
	if inf == nil {
		inf = newInformer(s, f.resync)
		m[s] = inf
	}
	return inf
}

// Start runs every informer asked for and not yet started, until ctx ends.
// Call it again after asking for more. It does nothing after Shutdown.
func (f *Factory) Start(ctx context.Context) {
	if f.log != nil {
		ctx = klog.NewContext(ctx, logr.FromSlogHandler(f.log.Handler()))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shutdown {
		return
	}
	for _, m := range []map[*registry.Store]cache.SharedIndexInformer{f.full, f.names} {
		for _, inf := range m {
			if !f.started[inf] {
				f.started[inf] = true
				f.wg.Go(func() { inf.RunWithContext(ctx) })
			}
		}
	}
}

// WaitForCacheSync waits until every started informer has listed its
// store, and reports false if ctx ended first. A controller waits rather
// for its own handlers (ResourceEventHandlerRegistration.HasSyncedChecker),
// which also says that they have seen the list.
func (f *Factory) WaitForCacheSync(ctx context.Context) bool {
	f.mu.Lock()
	var checkers []cache.DoneChecker
	for inf := range f.started {
		checkers = append(checkers, inf.HasSyncedChecker())
	}
	f.mu.Unlock()
	return cache.WaitFor(ctx, "", checkers...)
}

// Shutdown stops starting informers and waits until those started have
// returned, which they do once the context given to Start ends.
func (f *Factory) Shutdown() {
	f.mu.Lock()
	f.shutdown = true
	f.mu.Unlock()
	f.wg.Wait()
}
