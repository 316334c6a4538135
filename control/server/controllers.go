package server

import (
	"context"
	"log/slog"

	"github.com/skiff-sh/skiff/control/gc"
	"github.com/skiff-sh/skiff/control/nscontroller"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/raftstore"
)

// runControllers runs the control plane's own controllers — the garbage
// collector and the namespace lifecycle — on whichever member is the raft
// leader, and only there.
func runControllers(store *raftstore.Store, reg *registry.Registry, logger *slog.Logger) {
	store.OnLeader(func(ctx context.Context) {
		if err := gc.New(reg, logger.With("controller", "garbage-collector")).Run(ctx); err != nil {
			logger.Error("garbage collector stopped", "err", err)
		}
	})
	store.OnLeader(func(ctx context.Context) {
		if err := nscontroller.New(reg, logger.With("controller", "namespace")).Run(ctx); err != nil {
			logger.Error("namespace controller stopped", "err", err)
		}
	})
}
