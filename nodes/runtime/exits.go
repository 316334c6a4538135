package runtime

import (
	"context"
	"errors"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	eventsapi "github.com/containerd/containerd/api/services/events/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/errdefs"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Exit reports that a container's main process ended.
type Exit struct {
	ID       string
	Pid      uint32 // 0 when unknown
	ExitCode int32
	ExitedAt time.Time
	// Lost is set when the task vanished while containerd was unreachable
	// (its shim died with it): the exit code is unknown (255).
	Lost bool
}

// lostExitCode is reported for a task whose exit status is unknown.
const lostExitCode = 255

// Exits delivers container exits, each once, from containerd's /tasks/exit
// events and from waiting on every running task. After containerd comes back
// from a restart, exits that happened meanwhile are re-derived from task
// status. For one consumer; delivery blocks when Config.ExitBuffer exits are
// unread.
func (r *Runtime) Exits() <-chan Exit { return r.exits }

// exitNote is a message to the exit loop.
type exitNote struct {
	exit    *Exit
	started string // a container whose task was just started here
	forget  string // a container deleted here
}

// watch makes sure a waiter reports id's exit; called before a task starts.
func (r *Runtime) watch(id string) {
	r.note(exitNote{started: id})
	r.startWaiter(id)
}

func (r *Runtime) forget(id string) { r.note(exitNote{forget: id}) }

func (r *Runtime) note(n exitNote) {
	select {
	case r.events <- n:
	case <-r.loopDone():
	}
}

func (r *Runtime) loopDone() <-chan struct{} { return r.loopCtx.Done() }

// startWaiter waits on id's task through containerd (the shim answers even
// for a task that already exited) and notes the exit. A failed wait
// (containerd restarting, task deleted) just ends; the resync after
// reconnecting starts a new one.
func (r *Runtime) startWaiter(id string) {
	r.waitMu.Lock()
	if r.waiting[id] {
		r.waitMu.Unlock()
		return
	}
	r.waiting[id] = true
	r.waitMu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.waitMu.Lock()
			delete(r.waiting, id)
			r.waitMu.Unlock()
		}()
		resp, err := r.client.TaskService().Wait(r.loopCtx, &tasksapi.WaitRequest{ContainerID: id})
		if err != nil {
			return
		}
		ex := Exit{ID: id, ExitCode: int32(resp.ExitStatus)}
		if resp.ExitedAt != nil {
			ex.ExitedAt = resp.ExitedAt.AsTime()
		}
		r.note(exitNote{exit: &ex})
	}()
}

// exitLoop subscribes to exit events, resyncs from task status after every
// (re)subscription, and delivers exits once each.
func (r *Runtime) exitLoop(ctx context.Context) {
	defer r.wg.Done()
	st := &exitState{reported: map[string]time.Time{}, running: map[string]bool{}}
	backoff := r.cfg.ResubscribeBackoff
	for ctx.Err() == nil {
		err := r.subscribeOnce(ctx, st)
		if ctx.Err() != nil {
			return
		}
		r.logger.Warn("containerd event stream ended; resubscribing", "err", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, r.cfg.MaxResubscribeBackoff)
		if err == nil {
			backoff = r.cfg.ResubscribeBackoff
		}
	}
}

type exitState struct {
	reported map[string]time.Time // last exit delivered per container
	running  map[string]bool      // containers believed running
}

// subscribeOnce runs one subscription until it fails. It returns nil if the
// subscription worked for a while (so the next one starts without backoff).
func (r *Runtime) subscribeOnce(ctx context.Context, st *exitState) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// WaitForReady: while containerd is down this blocks until it is back.
	stream, err := eventsapi.NewEventsClient(r.client.Conn()).Subscribe(sctx,
		&eventsapi.SubscribeRequest{Filters: []string{`topic=="/tasks/exit",namespace==` + quote(r.cfg.Namespace)}},
		grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	if err := r.resync(ctx, st); err != nil {
		return err
	}
	recvErr := make(chan error, 1)
	evs := make(chan Exit)
	go func() {
		for {
			env, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			var te apievents.TaskExit
			if env.Event == nil || proto.Unmarshal(env.Event.GetValue(), &te) != nil {
				continue
			}
			if te.ID != te.ContainerID { // an exec'd process
				continue
			}
			ex := Exit{ID: te.ContainerID, Pid: te.Pid, ExitCode: int32(te.ExitStatus)}
			if te.ExitedAt != nil {
				ex.ExitedAt = te.ExitedAt.AsTime()
			}
			select {
			case evs <- ex:
			case <-sctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case ex := <-evs:
			r.deliver(ctx, st, ex)
		case n := <-r.events:
			r.apply(ctx, st, n)
		case err := <-recvErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *Runtime) apply(ctx context.Context, st *exitState, n exitNote) {
	switch {
	case n.exit != nil:
		r.deliver(ctx, st, *n.exit)
	case n.started != "":
		st.running[n.started] = true
		delete(st.reported, n.started)
	case n.forget != "":
		delete(st.running, n.forget)
		delete(st.reported, n.forget)
	}
}

// deliver passes an exit on unless it was delivered already.
func (r *Runtime) deliver(ctx context.Context, st *exitState, ex Exit) {
	if last, ok := st.reported[ex.ID]; ok && absDuration(last.Sub(ex.ExitedAt)) < time.Millisecond {
		return
	}
	st.reported[ex.ID] = ex.ExitedAt
	delete(st.running, ex.ID)
	select {
	case r.exits <- ex:
	case <-ctx.Done():
	}
}

// resync re-derives exits from task status: stopped tasks are reported (once),
// tasks believed running that have vanished are reported lost, and running
// tasks get a waiter.
func (r *Runtime) resync(ctx context.Context, st *exitState) error {
	// Notes queued before this point describe the past; apply them first.
	for {
		select {
		case n := <-r.events:
			r.apply(ctx, st, n)
			continue
		default:
		}
		break
	}
	procs, err := r.taskStates(ctx)
	if err != nil {
		return err
	}
	for id, p := range procs {
		switch p.Status {
		case tasktypes.Status_STOPPED:
			ex := Exit{ID: id, Pid: p.Pid, ExitCode: int32(p.ExitStatus)}
			if p.ExitedAt != nil {
				ex.ExitedAt = p.ExitedAt.AsTime()
			}
			r.deliver(ctx, st, ex)
		case tasktypes.Status_CREATED:
			// not started: nothing to report yet
		default:
			st.running[id] = true
			r.startWaiter(id)
		}
	}
	for id := range st.running {
		if _, ok := procs[id]; !ok {
			r.logger.Warn("task vanished while containerd was away", "container", id)
			r.deliver(ctx, st, Exit{ID: id, ExitCode: lostExitCode, ExitedAt: time.Now(), Lost: true})
		}
	}
	return nil
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func quote(s string) string { return `"` + s + `"` }

func isNotFound(err error) bool {
	return errdefs.IsNotFound(errdefs.FromGRPC(err)) || errors.Is(err, errdefs.ErrNotFound)
}
