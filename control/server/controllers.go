package server

import (
	"context"
	"log/slog"
	"sync"

	"github.com/skiff-sh/skiff/control/controllers"
	"github.com/skiff-sh/skiff/control/gc"
	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/nscontroller"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/scheduler"
	"github.com/skiff-sh/skiff/raftstore"
)

// runControllers runs the control plane's own controllers — the garbage
// collector, the namespace lifecycle, the scheduler and the replicaset and
// deployment controllers — on whichever member is the raft
// leader, and only there. Each leadership term gets one informer factory
// that the controllers share, and ends with every informer stopped.
func runControllers(store *raftstore.Store, reg *registry.Registry, logger *slog.Logger) {
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
			log := logger.With("controller", "scheduler")
			policy, err := scheduler.BuiltinPolicy(ctx, log)
			if err != nil {
				log.Error("scheduler not started", "err", err)
				return
			}
			sched, err := scheduler.New(reg, scheduler.Config{Policy: policy, Informers: informers, Logger: log})
			if err == nil {
				err = sched.Run(ctx)
			}
			if err != nil {
				log.Error("scheduler stopped", "err", err)
			}
		})
		wg.Go(func() {
			log := logger.With("controller", "workloads")
			policies, err := controllers.BuiltinPolicies(ctx, log)
			if err != nil {
				log.Error("replicaset and deployment controllers not started", "err", err)
				return
			}
			c := controllers.New(reg, policies, log)
			c.Informers = informers
			if err := c.Run(ctx); err != nil {
				log.Error("replicaset and deployment controllers stopped", "err", err)
			}
		})
		wg.Wait()
	})
}
