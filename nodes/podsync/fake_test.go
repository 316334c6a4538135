package podsync

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// fakeRuntime is an in-memory Runtime. Containers run until the test makes
// them exit (exit) or StopContainer stops them.
type fakeRuntime struct {
	now func() time.Time

	mu         sync.Mutex
	containers map[string]*Container
	images     map[string]bool
	pullErr    error
	nextID     int
	stops      map[string]time.Duration // grace of each stop
	created    int
	// ignoreTerm makes stopped containers take their whole grace (they are
	// killed, exit 137) instead of exiting 0 on SIGTERM.
	ignoreTerm bool
	exec       func(cmd []string) int
	onExit     func(id string)
}

func newFakeRuntime(now func() time.Time) *fakeRuntime {
	return &fakeRuntime{now: now, containers: map[string]*Container{}, images: map[string]bool{}, stops: map[string]time.Duration{}}
}

func (f *fakeRuntime) ImagePresent(_ context.Context, ref string) (Image, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Image{Ref: ref, ID: "sha256:" + ref}, f.images[ref], nil
}

func (f *fakeRuntime) PullImage(_ context.Context, ref string) (Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pullErr != nil {
		return Image{}, f.pullErr
	}
	f.images[ref] = true
	return Image{Ref: ref, ID: "sha256:" + ref}, nil
}

func (f *fakeRuntime) CreateContainer(_ context.Context, cfg ContainerConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.created++
	id := fmt.Sprintf("c%d", f.nextID)
	f.containers[id] = &Container{
		ID: id, PodUID: string(cfg.Pod.UID), PodNamespace: cfg.Pod.Namespace, PodName: cfg.Pod.Name,
		Name: cfg.Container.Name, Attempt: cfg.Attempt, State: StateCreated, CreatedAt: f.now(),
		Image: cfg.Image.Ref, ImageID: cfg.Image.ID,
	}
	return id, nil
}

func (f *fakeRuntime) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("no container %s", id)
	}
	c.State, c.StartedAt = StateRunning, f.now()
	return nil
}

func (f *fakeRuntime) StopContainer(_ context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	c, ok := f.containers[id]
	f.stops[id] = grace
	if ok && c.State == StateRunning {
		c.State, c.FinishedAt, c.ExitCode = StateExited, f.now(), 0
		if f.ignoreTerm {
			c.ExitCode = 137
		}
	}
	f.mu.Unlock()
	return nil
}

func (f *fakeRuntime) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok && c.State == StateRunning {
		return fmt.Errorf("container %s is running", id)
	}
	delete(f.containers, id)
	return nil
}

func (f *fakeRuntime) ListContainers(_ context.Context, podUID string) ([]Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Container
	for _, c := range f.containers {
		if podUID == "" || c.PodUID == podUID {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeRuntime) Exec(_ context.Context, _ string, cmd []string) (int, []byte, error) {
	f.mu.Lock()
	exec := f.exec
	f.mu.Unlock()
	if exec == nil {
		return 0, nil, nil
	}
	return exec(cmd), nil, nil
}

// exit makes a running container exit with code.
func (f *fakeRuntime) exit(id string, code int) {
	f.mu.Lock()
	c := f.containers[id]
	c.State, c.ExitCode, c.FinishedAt = StateExited, code, f.now()
	onExit := f.onExit
	f.mu.Unlock()
	if onExit != nil {
		onExit(id)
	}
}

// running returns the running instance of a pod's container, if any.
func (f *fakeRuntime) find(podUID, name string) []Container {
	cs, _ := f.ListContainers(context.Background(), podUID)
	var out []Container
	for _, c := range cs {
		if c.Name == name {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attempt < out[j].Attempt })
	return out
}

// fakeNetwork hands out addresses from 10.244.1.0/24.
type fakeNetwork struct {
	mu    sync.Mutex
	pods  map[string]netip.Addr
	next  netip.Addr
	setup int
}

func newFakeNetwork() *fakeNetwork {
	return &fakeNetwork{pods: map[string]netip.Addr{}, next: netip.MustParseAddr("10.244.1.2")}
}

func (n *fakeNetwork) Setup(_ context.Context, uid string) (Attachment, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.setup++
	ip, ok := n.pods[uid]
	if !ok {
		ip = n.next
		n.next = n.next.Next()
		n.pods[uid] = ip
	}
	return Attachment{IP: ip, NetnsPath: "/run/skiff/netns/" + uid}, nil
}

func (n *fakeNetwork) Teardown(_ context.Context, uid string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.pods, uid)
	return nil
}

func (n *fakeNetwork) Attached(context.Context) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for uid := range n.pods {
		out = append(out, uid)
	}
	return out, nil
}

func (n *fakeNetwork) has(uid string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.pods[uid]
	return ok
}
