package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/skiff-sh/skiff/nodes/podlogs"
)

// runcRuntime is the shim every container runs under.
const runcRuntime = "io.containerd.runc.v2"

// Create makes a container from spec: a new snapshot of its image (which must
// be present, see EnsureImage) and an OCI spec from the image config with the
// spec's overrides. It does not start it. An existing ID fails with an error
// satisfying errdefs.IsAlreadyExists.
func (r *Runtime) Create(ctx context.Context, spec ContainerSpec) error {
	ctx = r.ns(ctx)
	if err := spec.Validate(); err != nil {
		return err
	}
	ref, err := NormalizeImage(spec.Image)
	if err != nil {
		return err
	}
	img, err := r.client.GetImage(ctx, ref)
	if err != nil {
		return fmt.Errorf("runtime: creating container %s: image %s: %w", spec.ID, ref, err)
	}
	ispec, err := img.Spec(ctx)
	if err != nil {
		return fmt.Errorf("runtime: creating container %s: reading config of %s: %w", spec.ID, ref, err)
	}
	opts, err := specOpts(ispec.Config, &spec)
	if err != nil {
		return err
	}
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	for k, v := range spec.Meta.labels() {
		labels[k] = v
	}
	labels[LabelLogPath] = spec.LogPath
	labels[LabelImageID] = imageID(img.Name(), img.Target().Digest.String())
	stopSignal := ispec.Config.StopSignal
	if stopSignal == "" {
		stopSignal = "SIGTERM"
	}
	if _, err := containerd.ParseSignal(stopSignal); err != nil {
		return fmt.Errorf("runtime: creating container %s: image %s STOPSIGNAL: %w", spec.ID, ref, err)
	}
	labels[LabelStopSignal] = stopSignal

	_, err = r.client.NewContainer(ctx, spec.ID,
		containerd.WithImage(img),
		containerd.WithSnapshotter(r.cfg.Snapshotter),
		containerd.WithNewSnapshot(spec.ID, img),
		containerd.WithNewSpec(opts...),
		containerd.WithRuntime(runcRuntime, &options.Options{Root: r.cfg.RuncRoot}),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		return fmt.Errorf("runtime: creating container %s: %w", spec.ID, err)
	}
	return nil
}

// Start starts a created container, its output going to its log file. Its
// exit is reported on Exits.
func (r *Runtime) Start(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("runtime: starting %s: %w", id, err)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("runtime: starting %s: reading labels: %w", id, err)
	}
	// A stopped task from an earlier run is in the way; a live one is an error.
	if t, err := c.Task(ctx, nil); err == nil {
		st, err := t.Status(ctx)
		if err != nil {
			return fmt.Errorf("runtime: starting %s: status of old task: %w", id, err)
		}
		if st.Status != containerd.Stopped {
			return fmt.Errorf("runtime: starting %s: already %s: %w", id, st.Status, errdefs.ErrFailedPrecondition)
		}
		if _, err := t.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("runtime: starting %s: deleting old task: %w", id, err)
		}
	}
	creator, err := r.ioCreator(labels[LabelLogPath])
	if err != nil {
		return fmt.Errorf("runtime: starting %s: %w", id, err)
	}
	task, err := c.NewTask(ctx, creator)
	if err != nil {
		return fmt.Errorf("runtime: starting %s: creating task: %w", id, err)
	}
	// Wait before Start, so that even an instant exit is seen.
	r.watch(id)
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		return fmt.Errorf("runtime: starting %s: %w", id, err)
	}
	if _, err := c.SetLabels(ctx, map[string]string{LabelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
		r.logger.Warn("recording start time", "container", id, "err", err)
	}
	return nil
}

func (r *Runtime) ioCreator(logPath string) (cio.Creator, error) {
	if logPath == "" {
		return cio.NullIO, nil
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	if r.cfg.LoggerBinary != "" {
		return cio.BinaryIO(r.cfg.LoggerBinary, podlogs.LoggerArgs(logPath, r.cfg.LogMaxSize, r.cfg.LogMaxFiles)), nil
	}
	return cio.LogFile(logPath), nil
}

// Stop stops a running container: its stop signal (the image's STOPSIGNAL,
// else SIGTERM), then SIGKILL once grace has passed (at once if grace <= 0).
// It returns the exit; a container that is not running returns its last exit
// (zero Exit if it never ran).
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) (Exit, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return Exit{}, fmt.Errorf("runtime: stopping %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return Exit{ID: id}, nil
	}
	if err != nil {
		return Exit{}, fmt.Errorf("runtime: stopping %s: loading task: %w", id, err)
	}
	waitC, err := task.Wait(ctx)
	if err != nil {
		return Exit{}, fmt.Errorf("runtime: stopping %s: waiting: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return Exit{}, fmt.Errorf("runtime: stopping %s: status: %w", id, err)
	}
	if st.Status == containerd.Stopped {
		return Exit{ID: id, Pid: task.Pid(), ExitCode: int32(st.ExitStatus), ExitedAt: st.ExitTime}, nil
	}
	sig := syscall.SIGKILL
	if grace > 0 {
		labels, err := c.Labels(ctx)
		if err != nil {
			return Exit{}, fmt.Errorf("runtime: stopping %s: labels: %w", id, err)
		}
		if sig, err = containerd.ParseSignal(labels[LabelStopSignal]); err != nil {
			sig = syscall.SIGTERM
		}
	}
	if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
		return Exit{}, fmt.Errorf("runtime: stopping %s: sending %v: %w", id, sig, err)
	}
	var timer <-chan time.Time
	if sig != syscall.SIGKILL {
		t := time.NewTimer(grace)
		defer t.Stop()
		timer = t.C
	}
	for {
		select {
		case es := <-waitC:
			code, at, err := es.Result()
			if err != nil {
				return Exit{}, fmt.Errorf("runtime: stopping %s: waiting for exit: %w", id, err)
			}
			return Exit{ID: id, Pid: task.Pid(), ExitCode: int32(code), ExitedAt: at}, nil
		case <-timer:
			timer = nil
			r.logger.Info("grace period over; killing", "container", id, "grace", grace)
			if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
				return Exit{}, fmt.Errorf("runtime: stopping %s: SIGKILL: %w", id, err)
			}
		case <-ctx.Done():
			return Exit{}, fmt.Errorf("runtime: stopping %s: %w", id, ctx.Err())
		}
	}
}

// Delete removes a container: its task (killed if running), the container
// and its snapshot. Deleting what does not exist is not an error.
func (r *Runtime) Delete(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("runtime: deleting %s: %w", id, err)
	}
	if task, err := c.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("runtime: deleting task of %s: %w", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("runtime: deleting %s: loading task: %w", id, err)
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("runtime: deleting %s: %w", id, err)
	}
	r.forget(id)
	return nil
}
