package podsync

import (
	"context"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ContainerState is where a container instance is in its life.
type ContainerState string

// Container states.
const (
	StateCreated ContainerState = "created"
	StateRunning ContainerState = "running"
	StateExited  ContainerState = "exited"
)

// Container is one instance of a pod's container as the runtime reports it.
// Attempt counts the instances of the same container of the same pod from 0:
// it is the container's restartCount.
type Container struct {
	ID           string
	PodUID       string
	PodNamespace string
	PodName      string
	Name         string
	Attempt      int
	State        ContainerState
	ExitCode     int
	// Reason of an exit when the runtime knows one (OOMKilled); empty
	// otherwise.
	Reason     string
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	Image      string
	ImageID    string
}

// Image is a pulled image: the reference asked for and its content ID.
type Image struct {
	Ref string
	ID  string
}

// ContainerConfig is what the runtime needs to create one container
// instance. The runtime labels it with the pod's UID, namespace and name,
// the container's name and the attempt, and lists it back from them.
type ContainerConfig struct {
	Pod       *corev1.Pod
	Container *corev1.Container
	Attempt   int
	Image     Image
	NetnsPath string
	// PodIP is the pod's address (for env fieldRefs to status.podIP).
	PodIP   string
	LogPath string
}

// Runtime runs containers (nodes/runtime over containerd; a fake in tests).
type Runtime interface {
	// ImagePresent reports whether ref is present, and if so, the image.
	ImagePresent(ctx context.Context, ref string) (Image, bool, error)
	// PullImage pulls ref.
	PullImage(ctx context.Context, ref string) (Image, error)
	CreateContainer(ctx context.Context, cfg ContainerConfig) (id string, err error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer signals the container to stop and kills it after grace.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer removes a stopped container instance.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers lists the instances of one pod, or all with podUID "".
	ListContainers(ctx context.Context, podUID string) ([]Container, error)
	// Exec runs cmd in a running container (exec probes).
	Exec(ctx context.Context, id string, cmd []string) (exitCode int, output []byte, err error)
}

// Attachment is a pod's network: its address and namespace.
type Attachment struct {
	IP        netip.Addr
	NetnsPath string
	// HostVeth is the host end of the pod's link (for events).
	HostVeth string
}

// Network wires pods into the node's network (nodes/network; a fake in
// tests). Setup and Teardown are idempotent.
type Network interface {
	Setup(ctx context.Context, podUID string) (Attachment, error)
	Teardown(ctx context.Context, podUID string) error
	// Attached lists the pod UIDs that have a network.
	Attached(ctx context.Context) ([]string, error)
}
