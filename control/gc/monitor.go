package gc

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-sh/skiff/control/registry"
)

// Backoff bounds between failed lists or watches of one resource.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

var errWatchClosed = errors.New("gc: watch closed")

// monitor keeps the graph's view of store s current: it lists, then
// watches from the list's revision, and lists again whenever the watch
// fails (410 Gone past compaction included). synced is called after the
// first list.
func (r *run) monitor(ctx context.Context, s *registry.Store, synced func()) {
	backoff := minBackoff
	for ctx.Err() == nil {
		rv, err := r.list(ctx, s)
		if err == nil {
			synced()
			var events int
			events, err = r.watch(ctx, s, rv)
			if events > 0 {
				backoff = minBackoff
			}
		}
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("gc: relisting", "resource", s.Resource().Plural, "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// list reads every object of s into the graph and returns the revision.
func (r *run) list(ctx context.Context, s *registry.Store) (string, error) {
	list, err := s.List(ctx, "", metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("gc: list %s: %w", s.Resource().Plural, err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return "", fmt.Errorf("gc: list %s: %w", s.Resource().Plural, err)
	}
	objs := make([]metav1.Object, 0, len(items))
	for _, item := range items {
		if m, err := meta.Accessor(item); err == nil {
			objs = append(objs, m)
		}
	}
	r.graph.replace(s, objs)
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return "", fmt.Errorf("gc: list %s: %w", s.Resource().Plural, err)
	}
	return lm.GetResourceVersion(), nil
}

// watch feeds the changes to s after revision rv into the graph until the
// watch ends, and reports how many events it saw.
func (r *run) watch(ctx context.Context, s *registry.Store, rv string) (int, error) {
	w, err := s.Watch(ctx, "", metav1.ListOptions{ResourceVersion: rv})
	if err != nil {
		return 0, fmt.Errorf("gc: watch %s from %s: %w", s.Resource().Plural, rv, err)
	}
	defer w.Stop()
	events := 0
	for {
		select {
		case <-ctx.Done():
			return events, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return events, errWatchClosed
			}
			events++
			switch ev.Type {
			case watch.Added, watch.Modified:
				if m, err := meta.Accessor(ev.Object); err == nil {
					r.graph.observe(s, m)
				}
			case watch.Deleted:
				if m, err := meta.Accessor(ev.Object); err == nil {
					r.graph.forget(m.GetUID())
				}
			case watch.Error:
				return events, fmt.Errorf("gc: watch %s: %w", s.Resource().Plural, statusError(ev.Object))
			}
		}
	}
}

func statusError(obj runtime.Object) error {
	if st, ok := obj.(*metav1.Status); ok {
		return &apierrors.StatusError{ErrStatus: *st}
	}
	return fmt.Errorf("unexpected watch error object %T", obj)
}
