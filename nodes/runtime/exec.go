package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
)

// ErrExecTimeout reports an exec that did not finish in time (it was killed).
var ErrExecTimeout = errors.New("runtime: exec timed out")

// ExecResult is how an exec'd command ended.
type ExecResult struct {
	ExitCode int
	Output   []byte // stdout and stderr interleaved, at most Config.ExecOutputLimit bytes
}

// Exec runs cmd in a running container, as an exec probe does, and waits for
// it at most timeout (<= 0: until ctx ends). On timeout the process is killed
// and the error is ErrExecTimeout, with what output there was.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (ExecResult, error) {
	ctx = r.ns(ctx)
	if len(cmd) == 0 {
		return ExecResult{}, fmt.Errorf("runtime: exec in %s: empty command", id)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return ExecResult{}, fmt.Errorf("runtime: exec in %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return ExecResult{}, fmt.Errorf("runtime: exec in %s: loading task: %w", id, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return ExecResult{}, fmt.Errorf("runtime: exec in %s: reading spec: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = false

	out := &limitedBuffer{limit: r.cfg.ExecOutputLimit}
	opts := []cio.Opt{cio.WithStreams(nil, out, out)}
	if r.cfg.FIFODir != "" {
		opts = append(opts, cio.WithFIFODir(r.cfg.FIFODir))
	}
	execID := "exec-" + randomHex(8)
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		return ExecResult{}, fmt.Errorf("runtime: exec %q in %s: %w", cmd, id, err)
	}
	cleanup := context.WithoutCancel(ctx)
	defer func() {
		if _, err := proc.Delete(cleanup); err != nil && !errdefs.IsNotFound(err) {
			r.logger.Warn("deleting exec process", "container", id, "exec", execID, "err", err)
		}
	}()
	waitC, err := proc.Wait(ctx)
	if err != nil {
		return ExecResult{}, fmt.Errorf("runtime: exec %q in %s: waiting: %w", cmd, id, err)
	}
	if err := proc.Start(ctx); err != nil {
		return ExecResult{}, fmt.Errorf("runtime: exec %q in %s: %w", cmd, id, err)
	}
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case es := <-waitC:
		code, _, err := es.Result()
		if err != nil {
			return ExecResult{}, fmt.Errorf("runtime: exec %q in %s: %w", cmd, id, err)
		}
		// Delete (deferred) waits for the output copy; do it before reading.
		if _, err := proc.Delete(cleanup); err != nil && !errdefs.IsNotFound(err) {
			return ExecResult{}, fmt.Errorf("runtime: exec %q in %s: deleting: %w", cmd, id, err)
		}
		return ExecResult{ExitCode: int(code), Output: out.Bytes()}, nil
	case <-timer:
		_ = proc.Kill(cleanup, syscall.SIGKILL)
		select {
		case <-waitC:
		case <-time.After(5 * time.Second):
		}
		proc.Delete(cleanup)
		return ExecResult{ExitCode: -1, Output: out.Bytes()}, fmt.Errorf("%w: %q in %s after %v", ErrExecTimeout, cmd, id, timeout)
	case <-ctx.Done():
		_ = proc.Kill(cleanup, syscall.SIGKILL)
		return ExecResult{}, fmt.Errorf("runtime: exec %q in %s: %w", cmd, id, ctx.Err())
	}
}

// limitedBuffer keeps the first limit bytes written to it and discards the
// rest; it is safe for the two concurrent writers (stdout, stderr).
type limitedBuffer struct {
	mu    sync.Mutex
	buf   []byte
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
