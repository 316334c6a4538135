package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiff-sh/skiff/control/controllers"
	"github.com/skiff-sh/skiff/control/gc"
	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/membership"
	"github.com/skiff-sh/skiff/control/nodeipam"
	"github.com/skiff-sh/skiff/control/nodelifecycle"
	"github.com/skiff-sh/skiff/control/nscontroller"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/scheduler"
	"github.com/skiff-sh/skiff/raftstore"
	wasmrt "github.com/skiff-sh/skiff/wasm/runtime"
)

// runControllers runs the control plane's own controllers — the garbage
// collector, the namespace lifecycle, node pod CIDRs, the scheduler and the replicaset and
// deployment controllers — on whichever member is the raft
// leader, and only there. Each leadership term gets one informer factory
// that the controllers share, and ends with every informer stopped.
func runControllers(store *raftstore.Store, reg *registry.Registry, policies *builtinPolicies, cc controllerConfig, logger *slog.Logger) {
	store.OnLeader(func(ctx context.Context) {
		informers := informer.NewFactory(reg, 0, logger.With("component", "informers"))
		defer informers.Shutdown()
		collector := gc.New(reg, logger.With("controller", "garbage-collector"))
		collector.Informers = informers
		namespaces := nscontroller.New(reg, logger.With("controller", "namespace"))
		namespaces.Informers = informers
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := collector.Run(ctx); err != nil {
				logger.Error("garbage collector stopped", "err", err)
			}
		})
		wg.Go(func() {
			if err := namespaces.Run(ctx); err != nil {
				logger.Error("namespace controller stopped", "err", err)
			}
		})
		wg.Go(func() {
			log := logger.With("controller", "node-ipam")
			cfg := nodeipam.DefaultConfig()
			cfg.Informers, cfg.Logger = informers, log
			ipam, err := nodeipam.New(reg, cfg)
			if err == nil {
				err = ipam.Run(ctx)
			}
			if err != nil {
				log.Error("node IPAM controller stopped", "err", err)
			}
		})
		wg.Go(func() {
			log := logger.With("controller", "scheduler")
			uploads := wasmrt.DefaultConfig()
			uploads.CacheDir = policies.cache
			sched, err := scheduler.New(reg, scheduler.Config{
				Policy: policies.scheduler, Informers: informers, Logger: log,
				Uploads: true, UploadRuntime: uploads,
			})
			if err == nil {
				err = sched.Run(ctx)
			}
			if err != nil {
				log.Error("scheduler stopped", "err", err)
			}
		})
		wg.Go(func() {
			log := logger.With("controller", "node-lifecycle")
			cfg := nodelifecycle.DefaultConfig()
			cfg.Policy, cfg.GracePeriod, cfg.Informers, cfg.Logger = policies.workloads[controllers.NodeLifecycleModule], cc.nodeGrace, informers, log
			if cc.members != nil {
				cfg.Members, cfg.MembersChanged = cc.members.list, cc.members.changed
			}
			c, err := nodelifecycle.New(reg, cfg)
			if err == nil {
				err = c.Run(ctx)
			}
			if err != nil {
				log.Error("node lifecycle controller stopped", "err", err)
			}
		})
		wg.Go(func() {
			log := logger.With("controller", "workloads")
			c := controllers.New(reg, policies.workloads, log)
			c.Informers = informers
			if err := c.Run(ctx); err != nil {
				log.Error("workload and endpoints controllers stopped", "err", err)
			}
		})
		wg.Wait()
	})
}

// controllerConfig is what the controllers take from the server's configuration.
type controllerConfig struct {
	nodeGrace time.Duration
	members   *memberFeed // nil without Serf
}

// memberFeed hands Serf's view to the controllers: Serf starts after the API (it advertises
// the API's address), the controllers may start before.
type memberFeed struct {
	m       atomic.Pointer[membership.Membership]
	changed chan struct{}
}

// newMemberFeed returns a feed, or nil when the server runs without Serf.
func newMemberFeed(serf bool) *memberFeed {
	if !serf {
		return nil
	}
	return &memberFeed{changed: make(chan struct{}, 1)}
}

// set starts feeding m's members, signalling changed on each of its events.
func (f *memberFeed) set(m *membership.Membership) {
	if f == nil {
		return
	}
	f.m.Store(m)
	go func() {
		for range m.Events() {
			select {
			case f.changed <- struct{}{}:
			default:
			}
		}
	}()
}

// list is the members, none before Serf started.
func (f *memberFeed) list() []membership.Member {
	if m := f.m.Load(); m != nil {
		return m.Members()
	}
	return nil
}

// builtinPolicies are the policy modules the leader's controllers run.
type builtinPolicies struct {
	scheduler scheduler.Policy
	workloads map[string]controllers.Reconciler
	// cache keeps compiled modules, uploaded ones too.
	cache string
}

// loadPolicies loads the built-in policy modules when the server starts, on
// every member, so that a new leader starts its controllers at once. The
// compiled code is kept in cache: compiling takes seconds, loading from the
// cache milliseconds.
func loadPolicies(ctx context.Context, cache string, logger *slog.Logger) (*builtinPolicies, error) {
	sched, err := scheduler.BuiltinPolicy(ctx, logger.With("controller", "scheduler"), cache)
	if err != nil {
		return nil, fmt.Errorf("server: load the scheduler policy: %w", err)
	}
	workloads, err := controllers.BuiltinPolicies(ctx, logger.With("controller", "workloads"), cache)
	if err != nil {
		return nil, fmt.Errorf("server: load the controller policies: %w", err)
	}
	return &builtinPolicies{scheduler: sched, workloads: workloads, cache: cache}, nil
}
