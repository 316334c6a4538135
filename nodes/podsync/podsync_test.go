package podsync

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

const node = "node-1"

type harness struct {
	t      *testing.T
	client *fake.Clientset
	rt     *fakeRuntime
	net    *fakeNetwork
	rec    *record.FakeRecorder
	offset atomic.Int64
	s      *Syncer

	mu     sync.Mutex
	events []string
	// unrouted, if set, is the syncer's Config.Unrouted.
	unrouted func(ctx context.Context, ip string) error
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, client: fake.NewClientset(), net: newFakeNetwork(), rec: record.NewFakeRecorder(10000)}
	h.rt = newFakeRuntime(h.now)
	return h
}

func (h *harness) now() time.Time { return time.Now().Add(time.Duration(h.offset.Load())) }

// advance moves the syncer's clock and wakes every worker.
func (h *harness) advance(d time.Duration) {
	h.offset.Add(int64(d))
	h.s.mu.Lock()
	for _, w := range h.s.workers {
		w.kick()
	}
	h.s.mu.Unlock()
}

func (h *harness) start() {
	t := h.t
	s, err := New(Config{
		NodeName: node, NodeIP: "10.99.0.11", Client: h.client, Runtime: h.rt, Network: h.net,
		LogDir: t.TempDir(), Recorder: h.rec, Now: h.now, Unrouted: h.unrouted,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	h.rt.onExit = s.ContainerExited
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case e := <-h.rec.Events:
				h.mu.Lock()
				h.events = append(h.events, e)
				h.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
		<-drained
	})
}

func (h *harness) eventList() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// waitEvent waits for an event containing all of the parts.
func (h *harness) waitEvent(parts ...string) {
	h.t.Helper()
	h.eventually("an event with "+strings.Join(parts, " … "), func() bool {
		for _, e := range h.eventList() {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(e, p)
			}
			if ok {
				return true
			}
		}
		return false
	})
}

func (h *harness) eventually(what string, f func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; events: %q", what, h.eventList())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) get(name string) *corev1.Pod {
	h.t.Helper()
	p, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// waitPod waits until the pod satisfies cond and returns it.
func (h *harness) waitPod(name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	h.t.Helper()
	var p *corev1.Pod
	h.eventually("pod "+name+" "+what, func() bool {
		got, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		p = got
		return cond(p)
	})
	return p
}

func (h *harness) create(p *corev1.Pod) {
	h.t.Helper()
	if _, err := h.client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

func newPod(name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{
			NodeName:      node,
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers:    []corev1.Container{{Name: "app", Image: "hello:1", ImagePullPolicy: corev1.PullIfNotPresent}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// waiting is the first container's waiting state, if any.
func waiting(p *corev1.Pod) *corev1.ContainerStateWaiting {
	if len(p.Status.ContainerStatuses) == 0 {
		return nil
	}
	return p.Status.ContainerStatuses[0].State.Waiting
}

func isReady(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue }

func TestRunsPodAndReportsReady(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(newPod("web"))
	p := h.waitPod("web", "Running and Ready", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && isReady(p) })

	if p.Status.PodIP != "10.244.1.2" || p.Status.HostIP != "10.99.0.11" || p.Status.StartTime == nil {
		t.Errorf("podIP %q hostIP %q startTime %v", p.Status.PodIP, p.Status.HostIP, p.Status.StartTime)
	}
	for _, c := range []corev1.PodConditionType{podReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled} {
		if got := podCondition(p, c); got != corev1.ConditionTrue {
			t.Errorf("condition %s = %q, want True", c, got)
		}
	}
	if len(p.Status.ContainerStatuses) != 1 {
		t.Fatalf("container statuses %v", p.Status.ContainerStatuses)
	}
	cs := p.Status.ContainerStatuses[0]
	if cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started || cs.RestartCount != 0 ||
		!strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ImageID != "sha256:hello:1" || cs.Image != "hello:1" {
		t.Errorf("container status %+v", cs)
	}
	h.waitEvent("Normal Pulling", `Pulling image "hello:1"`)
	h.waitEvent("Normal Pulled", "Successfully pulled")
	h.waitEvent("Normal Created", "Created container: app")
	h.waitEvent("Normal Started", "Started container app")

	// A second pod of the same image finds it present.
	h.create(newPod("web2"))
	h.waitPod("web2", "Ready", isReady)
	h.waitEvent("Normal Pulled", `Container image "hello:1" already present on machine`)
}

func TestCrashLoopBackOff(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(newPod("crash"))
	h.waitPod("crash", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	first := h.rt.find("uid-crash", "app")[0]
	h.rt.exit(first.ID, 1)
	// The first restart is at once.
	p := h.waitPod("crash", "restarted once", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount == 1 && cs[0].State.Running != nil
	})
	last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
	if last == nil || last.ExitCode != 1 || last.Reason != "Error" {
		t.Fatalf("lastState after the first crash: %+v", last)
	}
	// The second waits 10 s.
	second := h.rt.find("uid-crash", "app")[1]
	h.rt.exit(second.ID, 2)
	p = h.waitPod("crash", "in CrashLoopBackOff", func(p *corev1.Pod) bool {
		w := waiting(p)
		return w != nil && w.Reason == "CrashLoopBackOff"
	})
	cs := p.Status.ContainerStatuses[0]
	if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 2 ||
		!strings.Contains(cs.State.Waiting.Message, "back-off 10s restarting failed container=app") || isReady(p) || p.Status.Phase != corev1.PodRunning {
		t.Fatalf("in back-off: phase %s ready %v status %+v", p.Status.Phase, isReady(p), cs)
	}
	h.waitEvent("Warning BackOff", "Back-off restarting failed container app")
	h.advance(9 * time.Second)
	time.Sleep(50 * time.Millisecond)
	if n := len(h.rt.find("uid-crash", "app")); n != 2 {
		t.Fatalf("restarted before its 10 s back-off: %d instances", n)
	}
	h.advance(2 * time.Second)
	h.waitPod("crash", "restarted twice", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount == 2 && cs[0].State.Running != nil
	})
	// Only the previous instance is kept (for --previous).
	insts := h.rt.find("uid-crash", "app")
	if len(insts) != 2 || insts[0].Attempt != 1 || insts[1].Attempt != 2 {
		t.Fatalf("instances kept: %+v", insts)
	}
	// The next back-off is 20 s.
	h.rt.exit(insts[1].ID, 1)
	h.waitPod("crash", "backing off 20s", func(p *corev1.Pod) bool {
		w := waiting(p)
		return w != nil && strings.Contains(w.Message, "back-off 20s")
	})
}

func TestRestartPolicyNeverSucceeds(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(newPod("job", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }))
	h.waitPod("job", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	h.rt.exit(h.rt.find("uid-job", "app")[0].ID, 0)
	p := h.waitPod("job", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if t1 := p.Status.ContainerStatuses[0].State.Terminated; t1 == nil || t1.Reason != "Completed" {
		t.Fatalf("terminated state %+v", t1)
	}
	h.eventually("the finished pod's network released", func() bool { return !h.net.has("uid-job") })
	if n := len(h.rt.find("uid-job", "app")); n != 1 {
		t.Fatalf("%d instances after success with restartPolicy Never, want the one (kept for logs)", n)
	}
}

func TestFailedWithNever(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(newPod("job", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }))
	h.waitPod("job", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	h.rt.exit(h.rt.find("uid-job", "app")[0].ID, 3)
	h.waitPod("job", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
}

func TestGracefulDeletion(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(newPod("web", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = new(int64(30)) }))
	h.waitPod("web", "Ready", isReady)
	id := h.rt.find("uid-web", "app")[0].ID

	p := h.get("web")
	deadline := metav1.NewTime(h.now().Add(5 * time.Second)) // as the API sets it: now + grace
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &deadline, new(int64(5))
	p.Status.PodIP = "10.244.1.2"
	deleted := time.Now()
	if _, err := h.client.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the pod's deletion confirmed", func() bool {
		_, err := h.client.CoreV1().Pods("default").Get(context.Background(), "web", metav1.GetOptions{})
		return err != nil
	})
	h.rt.mu.Lock()
	grace := h.rt.stops[id]
	h.rt.mu.Unlock()
	// The containers ran on for the drain delay (the proxies take the pod
	// out first), and the rest of the grace period was theirs.
	if took := time.Since(deleted); took < DefaultDrainDelay-100*time.Millisecond {
		t.Errorf("stopped %s after the deletion, want after the %s drain delay", took, DefaultDrainDelay)
	}
	if grace > 5*time.Second-DefaultDrainDelay+100*time.Millisecond || grace < 5*time.Second-DefaultDrainDelay-time.Second {
		t.Errorf("stopped with grace %s, want the deletion's 5s less the %s drain", grace, DefaultDrainDelay)
	}
	if n := len(h.rt.find("uid-web", "app")); n != 0 {
		t.Errorf("%d containers left", n)
	}
	if h.net.has("uid-web") {
		t.Error("network left")
	}
	h.waitEvent("Normal Killing", "Stopping container app")
}

func TestAdoptsRunningContainers(t *testing.T) {
	h := newHarness(t)
	p := newPod("web")
	h.create(p)
	// What a previous daemon left running: the third instance, and a network.
	if _, err := h.net.Setup(context.Background(), "uid-web"); err != nil {
		t.Fatal(err)
	}
	h.rt.images["hello:1"] = true
	for attempt := range 3 {
		id, _ := h.rt.CreateContainer(context.Background(), ContainerConfig{Pod: p, Container: &p.Spec.Containers[0], Attempt: attempt, Image: Image{Ref: "hello:1", ID: "sha256:hello:1"}})
		h.rt.StartContainer(context.Background(), id)
		if attempt < 2 {
			h.rt.exit(id, 1)
		}
	}
	// And the container of a pod deleted while the daemon was down.
	gone := newPod("gone")
	h.net.Setup(context.Background(), "uid-gone")
	id, _ := h.rt.CreateContainer(context.Background(), ContainerConfig{Pod: gone, Container: &gone.Spec.Containers[0]})
	h.rt.StartContainer(context.Background(), id)
	created := h.rt.created

	h.start()
	got := h.waitPod("web", "Ready", isReady)
	if cs := got.Status.ContainerStatuses[0]; cs.RestartCount != 2 || cs.State.Running == nil {
		t.Errorf("adopted status %+v", cs)
	}
	if got.Status.PodIP != "10.244.1.2" {
		t.Errorf("pod IP changed to %s", got.Status.PodIP)
	}
	h.eventually("the orphan removed", func() bool { return len(h.rt.find("uid-gone", "app")) == 0 && !h.net.has("uid-gone") })
	h.rt.mu.Lock()
	n := h.rt.created
	h.rt.mu.Unlock()
	if n != created {
		t.Errorf("%d containers created on adoption, want none", n-created)
	}
	for _, e := range h.eventList() {
		if strings.Contains(e, "Started") || strings.Contains(e, "Created") {
			t.Errorf("event on adoption: %s", e)
		}
	}
}

func TestReadinessProbeGatesReady(t *testing.T) {
	h := newHarness(t)
	var healthy atomic.Bool
	h.rt.exec = func([]string) int {
		if healthy.Load() {
			return 0
		}
		return 1
	}
	h.start()
	h.create(newPod("web", func(p *corev1.Pod) {
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}},
			PeriodSeconds: 1, FailureThreshold: 1,
		}
	}))
	p := h.waitPod("web", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if isReady(p) {
		t.Fatal("ready before the readiness probe succeeded")
	}
	h.waitEvent("Warning Unhealthy", "Readiness probe failed")
	healthy.Store(true)
	h.waitPod("web", "Ready", isReady)
	healthy.Store(false)
	p = h.waitPod("web", "not Ready", func(p *corev1.Pod) bool { return !isReady(p) })
	if c := p.Status.ContainerStatuses[0]; c.Ready || c.State.Running == nil {
		t.Errorf("container status after readiness failure: %+v", c)
	}
}

func TestLivenessFailureRestarts(t *testing.T) {
	h := newHarness(t)
	h.rt.exec = func([]string) int { return 1 }
	h.start()
	h.create(newPod("web", func(p *corev1.Pod) {
		p.Spec.Containers[0].LivenessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}},
			PeriodSeconds: 1, FailureThreshold: 1,
		}
	}))
	h.waitEvent("Normal Killing", "Container app failed liveness probe, will be restarted")
	h.waitPod("web", "restarted", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 1
	})
}

func TestImagePullFailureBacksOff(t *testing.T) {
	h := newHarness(t)
	h.rt.pullErr = errors.New("not found: gcr.io/nope:1")
	h.start()
	h.create(newPod("bad"))
	// ErrImagePull turns into ImagePullBackOff as soon as the worker looks
	// again (as in Kubernetes), so either may be seen first.
	p := h.waitPod("bad", "ErrImagePull", func(p *corev1.Pod) bool {
		w := waiting(p)
		return w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff")
	})
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s, want Pending", p.Status.Phase)
	}
	h.waitEvent("Warning Failed", `Failed to pull image "hello:1"`, "not found")
	h.advance(time.Second)
	h.waitPod("bad", "ImagePullBackOff", func(p *corev1.Pod) bool {
		w := waiting(p)
		return w != nil && w.Reason == "ImagePullBackOff"
	})
	h.rt.mu.Lock()
	h.rt.pullErr = nil
	h.rt.mu.Unlock()
	h.advance(11 * time.Second)
	h.waitPod("bad", "Ready once the image pulls", isReady)
}

func TestPullNeverWithoutImage(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(newPod("never", func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever }))
	h.waitPod("never", "ErrImageNeverPull", func(p *corev1.Pod) bool {
		w := waiting(p)
		return w != nil && w.Reason == "ErrImageNeverPull"
	})
}

func TestInitContainersRunFirst(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(newPod("init", func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "hello:1", ImagePullPolicy: corev1.PullIfNotPresent}}
	}))
	p := h.waitPod("init", "initializing", func(p *corev1.Pod) bool {
		return len(p.Status.InitContainerStatuses) == 1 && p.Status.InitContainerStatuses[0].State.Running != nil
	})
	if w := p.Status.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != "PodInitializing" || podCondition(p, corev1.PodInitialized) != corev1.ConditionFalse {
		t.Fatalf("app container before init finished: %+v, Initialized %s", p.Status.ContainerStatuses[0].State, podCondition(p, corev1.PodInitialized))
	}
	if n := len(h.rt.find("uid-init", "app")); n != 0 {
		t.Fatalf("app container started before the init container finished")
	}
	h.rt.exit(h.rt.find("uid-init", "setup")[0].ID, 0)
	p = h.waitPod("init", "Ready", isReady)
	if podCondition(p, corev1.PodInitialized) != corev1.ConditionTrue || p.Status.InitContainerStatuses[0].State.Terminated == nil {
		t.Fatalf("after init: %+v", p.Status)
	}
}

func TestPhase(t *testing.T) {
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	ok := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}
	failed := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}
	creating := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	backoff := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}, LastTerminationState: failed.State}
	pod := func(p corev1.RestartPolicy) *corev1.Pod { return &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: p}} }
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		cs     []corev1.ContainerStatus
		want   corev1.PodPhase
	}{
		{corev1.RestartPolicyAlways, []corev1.ContainerStatus{running, creating}, corev1.PodPending},
		{corev1.RestartPolicyAlways, []corev1.ContainerStatus{running, backoff}, corev1.PodRunning},
		{corev1.RestartPolicyAlways, []corev1.ContainerStatus{ok, failed}, corev1.PodRunning},
		{corev1.RestartPolicyNever, []corev1.ContainerStatus{ok, ok}, corev1.PodSucceeded},
		{corev1.RestartPolicyNever, []corev1.ContainerStatus{ok, failed}, corev1.PodFailed},
		{corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{ok, backoff}, corev1.PodRunning},
		{corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{ok, ok}, corev1.PodSucceeded},
	} {
		if got := phase(pod(tc.policy), nil, tc.cs, true); got != tc.want {
			t.Errorf("phase(%s, %d containers) = %s, want %s", tc.policy, len(tc.cs), got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff()
	t0 := time.Now()
	if d := b.wait("k", t0, t0); d != 0 {
		t.Fatalf("first restart waits %s", d)
	}
	if d := b.next("k", t0); d != 10*time.Second {
		t.Fatalf("first delay %s", d)
	}
	if d := b.wait("k", t0.Add(time.Second), t0.Add(3*time.Second)); d != 8*time.Second {
		t.Fatalf("wait = %s, want 8s", d)
	}
	at := t0
	for range 10 {
		at = at.Add(time.Minute)
		b.next("k", at)
	}
	if d := b.current("k"); d != 5*time.Minute {
		t.Fatalf("delay capped at %s, want 5m", d)
	}
	// Ten minutes without a restart start it over.
	late := at.Add(11 * time.Minute)
	if d := b.wait("k", late, late); d != 0 {
		t.Fatalf("after 11 min: wait %s", d)
	}
	if d := b.next("k", late); d != 10*time.Second {
		t.Fatalf("after 11 min: delay %s, want 10s", d)
	}
}

// TestDrainWaitsForTheProxy: with Unrouted, a deleted pod's containers run
// until the node's proxy has dropped the pod, plus the margin.
func TestDrainWaitsForTheProxy(t *testing.T) {
	h := newHarness(t)
	released := make(chan struct{})
	var asked atomic.Value
	h.unrouted = func(ctx context.Context, ip string) error {
		asked.Store(ip)
		select {
		case <-released:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.start()
	h.create(newPod("web"))
	h.waitPod("web", "Ready", isReady)
	p := h.get("web")
	deadline := metav1.NewTime(h.now().Add(30 * time.Second))
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &deadline, new(int64(30))
	if _, err := h.client.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the worker asking whether the pod is still routed", func() bool { return asked.Load() != nil })
	if ip := asked.Load().(string); ip != p.Status.PodIP {
		t.Fatalf("asked about %s, want the pod's %s", ip, p.Status.PodIP)
	}
	time.Sleep(300 * time.Millisecond)
	if c := h.rt.find("uid-web", "app"); len(c) != 1 || c[0].State != StateRunning {
		t.Fatalf("container stopped while the proxy still routed to it: %+v", c)
	}
	freed := time.Now()
	close(released)
	h.eventually("the pod's deletion confirmed", func() bool {
		_, err := h.client.CoreV1().Pods("default").Get(context.Background(), "web", metav1.GetOptions{})
		return err != nil
	})
	if took := time.Since(freed); took < DrainMargin {
		t.Errorf("stopped %s after the proxy dropped the pod, want at least the %s margin", took, DrainMargin)
	}
}
