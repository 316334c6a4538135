package podbench

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// opener opens a watch from a resourceVersion.
type opener func(ctx context.Context, rv string) (watch.Interface, error)

// handler takes one watch event with the client's clock at its receipt.
type handler func(t watch.EventType, obj runtime.Object, at time.Time)

// startFollow opens a watch from rv (before it returns, so that what the caller does next is
// seen) and then, in a goroutine, hands every event to handle, reopening the watch from the
// last revision seen when the server ends it, until ctx ends. The goroutine sends its result
// on the channel and closes it: nil when ctx ended, or the watch error (such as a compacted
// revision).
func startFollow(ctx context.Context, what, rv string, open opener, handle handler) (<-chan error, error) {
	w, err := open(ctx, rv)
	if err != nil {
		return nil, fmt.Errorf("podbench: watching %s from revision %q: %w", what, rv, err)
	}
	errc := make(chan error, 1)
	go func() {
		errc <- follow(ctx, what, rv, w, open, handle)
		close(errc)
	}()
	return errc, nil
}

func follow(ctx context.Context, what, rv string, w watch.Interface, open opener, handle handler) error {
	for {
		got := false
		for open := true; open; {
			select {
			case <-ctx.Done():
				w.Stop()
				return nil
			case ev, ok := <-w.ResultChan():
				if !ok {
					open = false
					break
				}
				at := time.Now()
				if ev.Type == watch.Error {
					w.Stop()
					return fmt.Errorf("podbench: watching %s from revision %q: %w", what, rv, apierrors.FromObject(ev.Object))
				}
				got = true
				if m, err := meta.Accessor(ev.Object); err == nil && m.GetResourceVersion() != "" {
					rv = m.GetResourceVersion()
				}
				if ev.Type != watch.Bookmark {
					handle(ev.Type, ev.Object, at)
				}
			}
		}
		w.Stop()
		if !got { // ended at once: do not spin
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
		}
		var err error
		if w, err = open(ctx, rv); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("podbench: watching %s from revision %q: %w", what, rv, err)
		}
	}
}
