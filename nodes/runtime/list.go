package runtime

import (
	"context"
	"fmt"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/containers"
)

// State is a container's state, as Kubernetes sees it.
type State string

const (
	StateCreated State = "created" // no task, or a task not started
	StateRunning State = "running"
	StateExited  State = "exited"
	StateUnknown State = "unknown"
)

// Status is what List knows of a container.
type Status struct {
	ID         string
	Meta       Meta
	Labels     map[string]string
	State      State
	Pid        uint32 // 0 when not running
	ExitCode   int32  // when State is StateExited
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	ImageRef   string
	ImageID    string
	LogPath    string
}

// List returns every container in the namespace with its state, from
// container labels and task status, for adoption after a restart.
func (r *Runtime) List(ctx context.Context) ([]Status, error) {
	ctx = r.ns(ctx)
	cs, err := r.client.ContainerService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("runtime: listing containers: %w", err)
	}
	procs, err := r.taskStates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(cs))
	for _, c := range cs {
		out = append(out, statusOf(c, procs[c.ID]))
	}
	return out, nil
}

// ListPod returns the containers of one pod (by their pod-uid label) with
// their state. It asks containerd for those tasks only: listing every task
// costs a round trip to every shim.
func (r *Runtime) ListPod(ctx context.Context, podUID string) ([]Status, error) {
	ctx = r.ns(ctx)
	filter := fmt.Sprintf("labels.%q==%q", LabelPodUID, podUID)
	cs, err := r.client.ContainerService().List(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("runtime: listing the containers of pod %s: %w", podUID, err)
	}
	out := make([]Status, 0, len(cs))
	for _, c := range cs {
		resp, err := r.client.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: c.ID})
		switch {
		case err == nil:
			out = append(out, statusOf(c, resp.Process))
		case isNotFound(err):
			out = append(out, statusOf(c, nil))
		default:
			return nil, fmt.Errorf("runtime: task status of %s: %w", c.ID, err)
		}
	}
	return out, nil
}

// Status returns one container's status; errdefs.IsNotFound if there is none.
func (r *Runtime) Status(ctx context.Context, id string) (Status, error) {
	ctx = r.ns(ctx)
	c, err := r.client.ContainerService().Get(ctx, id)
	if err != nil {
		return Status{}, fmt.Errorf("runtime: status of %s: %w", id, err)
	}
	resp, err := r.client.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: id})
	if err != nil {
		if isNotFound(err) {
			return statusOf(c, nil), nil
		}
		return Status{}, fmt.Errorf("runtime: task status of %s: %w", id, err)
	}
	return statusOf(c, resp.Process), nil
}

// taskStates maps container IDs to their init processes.
func (r *Runtime) taskStates(ctx context.Context) (map[string]*tasktypes.Process, error) {
	resp, err := r.client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("runtime: listing tasks: %w", err)
	}
	m := make(map[string]*tasktypes.Process, len(resp.Tasks))
	for _, p := range resp.Tasks {
		m[p.ID] = p
	}
	return m, nil
}

func statusOf(c containers.Container, p *tasktypes.Process) Status {
	s := Status{
		ID:        c.ID,
		Meta:      metaFrom(c.Labels),
		Labels:    c.Labels,
		State:     StateCreated,
		CreatedAt: c.CreatedAt,
		StartedAt: parseTime(c.Labels[LabelStartedAt]),
		ImageRef:  c.Image,
		ImageID:   c.Labels[LabelImageID],
		LogPath:   c.Labels[LabelLogPath],
	}
	if p == nil {
		return s
	}
	switch p.Status {
	case tasktypes.Status_CREATED:
		s.State = StateCreated
	case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		s.State, s.Pid = StateRunning, p.Pid
	case tasktypes.Status_STOPPED:
		s.State, s.ExitCode = StateExited, int32(p.ExitStatus)
		if p.ExitedAt != nil {
			s.FinishedAt = p.ExitedAt.AsTime()
		}
	default:
		s.State = StateUnknown
	}
	return s
}
