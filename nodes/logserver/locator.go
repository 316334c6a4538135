package logserver

import (
	"context"
	"errors"
	"fmt"
)

// Location is where one container instance's log is.
type Location struct {
	// Path is the instance's log file (podlogs format; rotated files beside
	// it as path.1, path.2, ...).
	Path string
	// Exited is closed once the instance has exited, so that a following
	// read ends when the file is drained; nil while the instance runs or
	// when it is not known.
	Exited <-chan struct{}
}

// Locator finds the log of a pod's container: its current instance, or with
// previous the one before it.
type Locator interface {
	// Locate returns the instance's log, or an error that wraps
	// ErrPodNotFound, ErrContainerNotFound, ErrNoPrevious or ErrNotStarted
	// (see NotFound) when there is none.
	Locate(ctx context.Context, namespace, pod, container string, previous bool) (Location, error)
}

// LocatorFunc is a function that is a Locator.
type LocatorFunc func(ctx context.Context, namespace, pod, container string, previous bool) (Location, error)

// Locate calls f.
func (f LocatorFunc) Locate(ctx context.Context, namespace, pod, container string, previous bool) (Location, error) {
	return f(ctx, namespace, pod, container, previous)
}

// Conditions a Locator reports; the handler answers the first three with
// 404 and ErrNotStarted with 400, as kubelet does.
var (
	ErrPodNotFound       = errors.New("logserver: pod not found")
	ErrContainerNotFound = errors.New("logserver: container not found")
	ErrNoPrevious        = errors.New("logserver: no previous terminated instance")
	ErrNotStarted        = errors.New("logserver: container has not started")
)

// NotFoundError is a Locator's answer for a log that does not exist. Its
// message is kubelet's; errors.Is matches its Reason.
type NotFoundError struct {
	Reason                    error // one of ErrPodNotFound, ErrContainerNotFound, ErrNoPrevious, ErrNotStarted
	Namespace, Pod, Container string
}

// NotFound returns a *NotFoundError for reason.
func NotFound(reason error, namespace, pod, container string) error {
	return &NotFoundError{Reason: reason, Namespace: namespace, Pod: pod, Container: container}
}

func (e *NotFoundError) Error() string {
	switch e.Reason {
	case ErrPodNotFound:
		return fmt.Sprintf("pod %q does not exist", e.Pod)
	case ErrContainerNotFound:
		return fmt.Sprintf("container %q not found in pod %q", e.Container, e.Pod)
	case ErrNoPrevious:
		return fmt.Sprintf("previous terminated container %q in pod %q not found", e.Container, e.Pod)
	case ErrNotStarted:
		return fmt.Sprintf("container %q in pod %q is waiting to start", e.Container, e.Pod)
	}
	return fmt.Sprintf("log of container %q in pod %q: %v", e.Container, e.Pod, e.Reason)
}

// Unwrap returns the reason.
func (e *NotFoundError) Unwrap() error { return e.Reason }
