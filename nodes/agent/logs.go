package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/nodes/logserver"
	"github.com/skiff-sh/skiff/nodes/podsync"
)

// exitWaiters lets log followers learn that a container exited.
type exitWaiters struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
}

// wait returns a channel closed when the container exits.
func (e *exitWaiters) wait(id string) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.waiting == nil {
		e.waiting = map[string]chan struct{}{}
	}
	ch, ok := e.waiting[id]
	if !ok {
		ch = make(chan struct{})
		e.waiting[id] = ch
	}
	return ch
}

// exited closes the container's channel.
func (e *exitWaiters) exited(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ch, ok := e.waiting[id]; ok {
		close(ch)
		delete(e.waiting, id)
	}
}

// locator finds container logs from the runtime's containers.
type locator struct {
	ctrs   *containers
	logDir string
	exits  *exitWaiters
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (l *locator) Locate(ctx context.Context, namespace, pod, container string, previous bool) (logserver.Location, error) {
	all, err := l.ctrs.ListContainers(ctx, "")
	if err != nil {
		return logserver.Location{}, err
	}
	var podSeen bool
	var insts []podsync.Container
	for _, c := range all {
		if c.PodNamespace != namespace || c.PodName != pod {
			continue
		}
		podSeen = true
		if c.Name == container {
			insts = append(insts, c)
		}
	}
	switch {
	case !podSeen:
		return logserver.Location{}, logserver.NotFound(logserver.ErrPodNotFound, namespace, pod, container)
	case len(insts) == 0:
		return logserver.Location{}, logserver.NotFound(logserver.ErrContainerNotFound, namespace, pod, container)
	}
	latest := insts[0]
	for _, c := range insts {
		if c.Attempt > latest.Attempt {
			latest = c
		}
	}
	inst := latest
	if previous {
		found := false
		for _, c := range insts {
			if c.Attempt < latest.Attempt && (!found || c.Attempt > inst.Attempt) {
				inst, found = c, true
			}
		}
		if !found {
			return logserver.Location{}, logserver.NotFound(logserver.ErrNoPrevious, namespace, pod, container)
		}
	}
	loc := logserver.Location{Path: podsync.LogPath(l.logDir, namespace, pod, inst.PodUID, container, inst.Attempt)}
	switch inst.State {
	case podsync.StateExited:
		loc.Exited = closed
	case podsync.StateCreated:
		return logserver.Location{}, logserver.NotFound(logserver.ErrNotStarted, namespace, pod, container)
	default:
		loc.Exited = l.exits.wait(inst.ID)
		// It may have exited before the wait was registered.
		if st, err := l.ctrs.rt.Status(ctx, inst.ID); err == nil && st.State != "running" {
			l.exits.exited(inst.ID)
		}
	}
	return loc, nil
}

// serveLogs serves container logs to the API server on the node's address.
func (a *Agent) serveLogs(ctx context.Context, loc logserver.Locator) error {
	var auth func(*http.Request) bool // nil: no token configured, anyone may read
	if a.cfg.LogToken != "" {
		auth = logserver.BearerToken(a.cfg.LogToken)
	}
	srv := &http.Server{
		Handler:           logserver.Handler(loc, auth, a.log.With("component", "log-server")),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	ln, err := net.Listen("tcp", a.logAddr())
	if err != nil {
		return fmt.Errorf("log server: %w", err)
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("log server: %w", err)
	}
	return nil
}
