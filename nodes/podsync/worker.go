package podsync

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/nodes/probe"
)

// retryAfterError is how soon a worker tries again after a failed step
// that has no back-off of its own.
const retryAfterError = time.Second

// worker reconciles one pod. update and kick may be called from any
// goroutine; everything else runs on the worker's own goroutine.
type worker struct {
	s   *Syncer
	uid types.UID

	mu    sync.Mutex
	pod   *corev1.Pod // latest from the API; nil once the API has no such pod
	kills map[string]kill
	wake  chan struct{}
	quit  chan struct{}
	once  sync.Once

	// The worker goroutine's own state.
	attach     *Attachment
	probes     map[string]*probeRun
	waiting    map[string]*corev1.ContainerStateWaiting // why a container is not running
	pullFailed map[string]time.Time
	backedOff  map[string]string // container → the exited instance a BackOff event was sent for
	wakeAt     time.Time
	written    *corev1.PodStatus
	writtenRV  string // the resourceVersion written was stored at
	drained    bool   // a deleted pod's drain delay is over
}

// kill is a probe's request to restart a container instance.
type kill struct {
	id, message string
}

type probeRun struct {
	id  string
	set *probe.Set
}

func newWorker(s *Syncer, uid types.UID) *worker {
	return &worker{
		s: s, uid: uid, kills: map[string]kill{}, wake: make(chan struct{}, 1), quit: make(chan struct{}),
		probes: map[string]*probeRun{}, waiting: map[string]*corev1.ContainerStateWaiting{},
		pullFailed: map[string]time.Time{}, backedOff: map[string]string{},
	}
}

// update hands the worker the pod's latest state (nil: gone from the API).
func (w *worker) update(p *corev1.Pod) {
	w.mu.Lock()
	w.pod = p
	w.mu.Unlock()
	w.kick()
}

func (w *worker) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) stop() { w.once.Do(func() { close(w.quit) }) }

func (w *worker) snapshot() (*corev1.Pod, map[string]kill) {
	w.mu.Lock()
	defer w.mu.Unlock()
	kills := w.kills
	w.kills = map[string]kill{}
	return w.pod, kills
}

func (w *worker) run(ctx context.Context) {
	defer w.stopProbes()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.quit:
			return
		case <-w.wake:
		case <-timer.C:
		}
		next, done := w.sync(ctx)
		if done {
			return
		}
		if next <= 0 || next > w.s.cfg.Resync {
			next = w.s.cfg.Resync
		}
		timer.Reset(next)
	}
}

// wakeIn asks for a sync within d.
func (w *worker) wakeIn(d time.Duration) {
	at := w.s.cfg.Now().Add(d)
	if w.wakeAt.IsZero() || at.Before(w.wakeAt) {
		w.wakeAt = at
	}
}

// sync reconciles the pod once and says when to look again, or that the
// pod is gone and the worker is done.
func (w *worker) sync(ctx context.Context) (next time.Duration, done bool) {
	w.wakeAt = time.Time{}
	pod, kills := w.snapshot()
	rt := w.s.cfg.Runtime
	cs, err := rt.ListContainers(ctx, string(w.uid))
	if err != nil {
		w.s.log.Error("list containers", "pod", w.uid, "err", err)
		return retryAfterError, false
	}
	w.s.trackContainers(w.uid, cs)
	if pod == nil || pod.DeletionTimestamp != nil {
		return w.terminate(ctx, pod, cs)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		w.finish(ctx, pod, cs)
		return 0, false
	}
	if w.attach == nil {
		began := time.Now()
		a, err := w.s.cfg.Network.Setup(ctx, string(w.uid))
		if err != nil {
			w.event(pod, "", corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			w.writeStatus(ctx, pod, w.status(pod, cs))
			return 2 * retryAfterError, false
		}
		w.attach = &a
		if len(cs) == 0 { // a new pod, not one adopted after a restart
			w.event(pod, "", corev1.EventTypeNormal, ReasonSandboxReady, "pod network ready: IP %s on veth %s (netns+veth %s)",
				a.IP, a.HostVeth, time.Since(began).Round(time.Microsecond))
		}
	}
	w.kill(ctx, pod, cs, kills)

	if w.runInitContainers(ctx, pod, cs) {
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			w.ensureContainer(ctx, pod, c, false, instancesOf(cs, c.Name))
		}
	}
	if cs, err = rt.ListContainers(ctx, string(w.uid)); err != nil {
		w.s.log.Error("list containers", "pod", w.uid, "err", err)
		return retryAfterError, false
	}
	w.s.trackContainers(w.uid, cs)
	w.syncProbes(pod, cs)
	w.writeStatus(ctx, pod, w.status(pod, cs))
	if !w.wakeAt.IsZero() {
		return w.wakeAt.Sub(w.s.cfg.Now()), false
	}
	return 0, false
}

// runInitContainers runs the init containers one after the other and says
// whether all have succeeded.
func (w *worker) runInitContainers(ctx context.Context, pod *corev1.Pod, cs []Container) bool {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		insts := instancesOf(cs, c.Name)
		latest := lastOf(insts)
		if latest != nil && latest.State == StateExited && latest.ExitCode == 0 {
			continue
		}
		if latest == nil || latest.State != StateRunning {
			w.ensureContainer(ctx, pod, c, true, insts)
		}
		return false
	}
	return true
}

// shouldRestart applies restartPolicy to an exited container. Init
// containers restart on failure unless the policy is Never.
func shouldRestart(policy corev1.RestartPolicy, exitCode int, init bool) bool {
	switch {
	case init:
		return exitCode != 0 && policy != corev1.RestartPolicyNever
	case policy == corev1.RestartPolicyAlways || policy == "":
		return true
	case policy == corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return false
}

// ensureContainer starts c if it is not running and should be.
func (w *worker) ensureContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, init bool, insts []Container) {
	rt := w.s.cfg.Runtime
	now := w.s.cfg.Now()
	latest := lastOf(insts)
	attempt := 0
	if latest != nil {
		switch latest.State {
		case StateRunning:
			delete(w.waiting, c.Name)
			return
		case StateCreated: // the daemon stopped between create and start
			w.start(ctx, pod, c, latest.ID)
			return
		}
		if !shouldRestart(pod.Spec.RestartPolicy, latest.ExitCode, init) {
			delete(w.waiting, c.Name)
			return
		}
		key := backoffKey(w.uid, c.Name)
		if d := w.s.backoff.wait(key, latest.FinishedAt, now); d > 0 {
			w.waiting[c.Name] = &corev1.ContainerStateWaiting{
				Reason: "CrashLoopBackOff",
				Message: "back-off " + w.s.backoff.current(key).String() + " restarting failed container=" + c.Name +
					" pod=" + pod.Name + "_" + pod.Namespace + "(" + string(pod.UID) + ")",
			}
			if w.backedOff[c.Name] != latest.ID {
				w.backedOff[c.Name] = latest.ID
				w.event(pod, fieldPath(pod, c), corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
			}
			w.wakeIn(d)
			return
		}
		w.s.backoff.next(key, now)
		attempt = latest.Attempt + 1
	}
	img, ok := w.ensureImage(ctx, pod, c)
	if !ok {
		return
	}
	id, err := rt.CreateContainer(ctx, ContainerConfig{
		Pod: pod, Container: c, Attempt: attempt, Image: img, NetnsPath: w.attach.NetnsPath, PodIP: w.attach.IP.String(),
		LogPath: LogPath(w.s.cfg.LogDir, pod.Namespace, pod.Name, string(pod.UID), c.Name, attempt),
	})
	if err != nil {
		w.waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
		w.event(pod, fieldPath(pod, c), corev1.EventTypeWarning, "Failed", "Error: %v", err)
		w.wakeIn(w.s.backoff.next(backoffKey(w.uid, c.Name), now))
		return
	}
	w.event(pod, fieldPath(pod, c), corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if !w.start(ctx, pod, c, id) {
		return
	}
	// Keep the instance before this one for `kubectl logs --previous`.
	for _, old := range insts[:max(0, len(insts)-1)] {
		if err := rt.RemoveContainer(ctx, old.ID); err != nil {
			w.s.log.Warn("remove old container", "pod", w.uid, "container", old.ID, "err", err)
		}
		os.Remove(LogPath(w.s.cfg.LogDir, pod.Namespace, pod.Name, string(pod.UID), c.Name, old.Attempt))
	}
}

func (w *worker) start(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string) bool {
	if err := w.s.cfg.Runtime.StartContainer(ctx, id); err != nil {
		w.waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: "RunContainerError", Message: err.Error()}
		w.event(pod, fieldPath(pod, c), corev1.EventTypeWarning, "Failed", "Error: %v", err)
		if err := w.s.cfg.Runtime.RemoveContainer(ctx, id); err != nil {
			w.s.log.Warn("remove a container that failed to start", "pod", w.uid, "container", id, "err", err)
		}
		w.wakeIn(w.s.backoff.next(backoffKey(w.uid, c.Name), w.s.cfg.Now()))
		return false
	}
	delete(w.waiting, c.Name)
	w.event(pod, fieldPath(pod, c), corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	return true
}

// ensureImage has c's image present by its pull policy.
func (w *worker) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (Image, bool) {
	rt := w.s.cfg.Runtime
	ref := fieldPath(pod, c)
	img, present, err := rt.ImagePresent(ctx, c.Image)
	if err != nil {
		w.s.log.Warn("look up image", "image", c.Image, "err", err)
	}
	policy := c.ImagePullPolicy
	switch {
	case policy == corev1.PullNever && !present:
		msg := "Container image \"" + c.Image + "\" is not present with pull policy of Never"
		w.waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: msg}
		w.event(pod, ref, corev1.EventTypeWarning, "ErrImageNeverPull", "%s", msg)
		w.wakeIn(w.s.cfg.Resync)
		return Image{}, false
	case present && policy != corev1.PullAlways:
		w.event(pod, ref, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
		return img, true
	}
	now := w.s.cfg.Now()
	key := "image/" + backoffKey(w.uid, c.Name)
	if failed, ok := w.pullFailed[c.Name]; ok {
		if d := w.s.backoff.wait(key, failed, now); d > 0 {
			w.waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image \"" + c.Image + "\""}
			w.event(pod, ref, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
			w.wakeIn(d)
			return Image{}, false
		}
	}
	w.event(pod, ref, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	img, err = rt.PullImage(ctx, c.Image)
	if err != nil {
		w.pullFailed[c.Name] = now
		w.waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: err.Error()}
		w.event(pod, ref, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		w.wakeIn(w.s.backoff.next(key, now))
		return Image{}, false
	}
	delete(w.pullFailed, c.Name)
	w.event(pod, ref, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, w.s.cfg.Now().Sub(now).Round(time.Millisecond))
	return img, true
}

// kill restarts the containers whose liveness or startup probe failed.
func (w *worker) kill(ctx context.Context, pod *corev1.Pod, cs []Container, kills map[string]kill) {
	for name, k := range kills {
		latest := lastOf(instancesOf(cs, name))
		if latest == nil || latest.ID != k.id || latest.State != StateRunning {
			continue
		}
		c := containerSpec(pod, name)
		if c == nil {
			continue
		}
		w.stopProbe(name)
		w.event(pod, fieldPath(pod, c), corev1.EventTypeNormal, "Killing", "%s", k.message)
		if err := w.s.cfg.Runtime.StopContainer(ctx, k.id, gracePeriod(pod)); err != nil {
			w.s.log.Error("stop container", "pod", w.uid, "container", k.id, "err", err)
		}
	}
}

// finish ends a pod that reached Succeeded or Failed: whatever still runs
// is stopped and its network is released; its containers stay for logs.
func (w *worker) finish(ctx context.Context, pod *corev1.Pod, cs []Container) {
	w.stopProbes()
	for _, c := range cs {
		if c.State == StateRunning {
			if err := w.s.cfg.Runtime.StopContainer(ctx, c.ID, gracePeriod(pod)); err != nil {
				w.s.log.Error("stop container of a finished pod", "pod", w.uid, "err", err)
			}
		}
	}
	if err := w.s.cfg.Network.Teardown(ctx, string(w.uid)); err != nil {
		w.s.log.Error("tear down the network of a finished pod", "pod", w.uid, "err", err)
		return
	}
	w.attach = nil
}

// terminate stops everything of a pod being deleted (or gone), releases
// its network and confirms the deletion.
func (w *worker) terminate(ctx context.Context, pod *corev1.Pod, cs []Container) (time.Duration, bool) {
	w.stopProbes()
	grace := 30 * time.Second
	if pod != nil {
		grace = gracePeriod(pod)
	}
	grace = w.drain(ctx, pod, cs, grace)
	var wg sync.WaitGroup
	var failed sync.Map
	for _, c := range cs {
		if c.State != StateRunning {
			continue
		}
		if pod != nil {
			if spec := containerSpec(pod, c.Name); spec != nil {
				w.event(pod, fieldPath(pod, spec), corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
			}
		}
		wg.Go(func() {
			if err := w.s.cfg.Runtime.StopContainer(ctx, c.ID, grace); err != nil {
				failed.Store(c.ID, err)
			}
		})
	}
	wg.Wait()
	var errs int
	failed.Range(func(id, err any) bool {
		w.s.log.Error("stop container", "pod", w.uid, "container", id, "err", err)
		errs++
		return true
	})
	for _, c := range cs {
		if err := w.s.cfg.Runtime.RemoveContainer(ctx, c.ID); err != nil {
			w.s.log.Error("remove container", "pod", w.uid, "container", c.ID, "err", err)
			errs++
		}
	}
	if err := w.s.cfg.Network.Teardown(ctx, string(w.uid)); err != nil {
		w.s.log.Error("tear down pod network", "pod", w.uid, "err", err)
		errs++
	}
	if errs > 0 {
		return retryAfterError, false
	}
	w.attach = nil
	w.s.backoff.forget(string(w.uid) + "/")
	w.s.backoff.forget("image/" + string(w.uid) + "/")
	if dirs, _ := filepath.Glob(filepath.Join(w.s.cfg.LogDir, "*_"+string(w.uid))); len(dirs) > 0 {
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}
	if pod == nil {
		return 0, true
	}
	if err := w.confirmDeletion(ctx, pod); err != nil {
		w.s.log.Error("confirm pod deletion", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return retryAfterError, false
	}
	return 0, false // the informer's delete ends the worker
}

// drain waits, once per deletion, for the proxies to stop sending a
// deleted pod new connections before its containers are signalled, and
// returns what is left of the grace period: until this node's proxy has
// dropped the pod plus DrainMargin (with Unrouted), else DrainDelay from
// the deletion.
func (w *worker) drain(ctx context.Context, pod *corev1.Pod, cs []Container, grace time.Duration) time.Duration {
	if pod == nil || pod.Status.PodIP == "" || w.s.cfg.DrainDelay <= 0 || w.drained {
		return grace
	}
	running := false
	for _, c := range cs {
		running = running || c.State == StateRunning
	}
	if !running {
		return grace
	}
	w.drained = true
	began := time.Now()
	var wait time.Duration
	if unrouted := w.s.cfg.Unrouted; unrouted != nil {
		uctx, cancel := context.WithTimeout(ctx, grace)
		err := unrouted(uctx, pod.Status.PodIP)
		cancel()
		if err != nil && ctx.Err() == nil {
			w.s.log.Warn("pod still routed when its grace period ended", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
		wait = DrainMargin
	} else {
		wait = w.s.cfg.DrainDelay
		if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
			// The proxies started when the pod was deleted: deletionTimestamp
			// less the grace period.
			deleted := pod.DeletionTimestamp.Add(-time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
			wait -= w.s.cfg.Now().Sub(deleted)
		}
	}
	wait = min(wait, grace-time.Since(began))
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return max(0, grace-time.Since(began))
}

// syncProbes runs the probes of each running container instance.
func (w *worker) syncProbes(pod *corev1.Pod, cs []Container) {
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest := lastOf(instancesOf(cs, c.Name))
		if latest == nil || latest.State != StateRunning {
			w.stopProbe(c.Name)
			continue
		}
		if r := w.probes[c.Name]; r != nil && r.id == latest.ID {
			continue
		}
		w.stopProbe(c.Name)
		id, name := latest.ID, c.Name
		target := probe.Target{
			Container: c,
			Exec: func(ctx context.Context, cmd []string) (int, []byte, error) {
				return w.s.cfg.Runtime.Exec(ctx, id, cmd)
			},
		}
		if w.attach != nil {
			target.PodIP = w.attach.IP.String()
		}
		ref := fieldPath(pod, c)
		podRef := pod
		w.probes[name] = &probeRun{id: id, set: probe.NewSet(c, target, latest.StartedAt, func(kind probe.Kind, verdict probe.Result, changed bool, msg string) {
			if verdict == probe.Failure {
				w.event(podRef, ref, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, msg)
			}
			if !changed {
				return
			}
			if verdict == probe.Failure && (kind == probe.Liveness || kind == probe.Startup) {
				w.mu.Lock()
				w.kills[name] = kill{id: id, message: "Container " + name + " failed " + strings.ToLower(kind.String()) + " probe, will be restarted"}
				w.mu.Unlock()
			}
			w.kick()
		})}
	}
	for name := range w.probes {
		if containerSpec(pod, name) == nil {
			w.stopProbe(name)
		}
	}
}

func (w *worker) stopProbe(name string) {
	if r := w.probes[name]; r != nil {
		r.set.Stop()
		delete(w.probes, name)
	}
}

func (w *worker) stopProbes() {
	for name := range w.probes {
		w.stopProbe(name)
	}
}

// event records an event about the pod, or about one of its containers
// when fieldPath is set.
func (w *worker) event(pod *corev1.Pod, fieldPath, eventType, reason, format string, args ...any) {
	if pod == nil {
		return
	}
	ref := &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, FieldPath: fieldPath,
	}
	w.s.recorder.Eventf(ref, eventType, reason, format, args...)
}

func backoffKey(uid types.UID, container string) string { return string(uid) + "/" + container }

func gracePeriod(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// instancesOf are the instances of one container, oldest first.
func instancesOf(cs []Container, name string) []Container {
	var out []Container
	for _, c := range cs {
		if c.Name == name {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attempt < out[j].Attempt })
	return out
}

func lastOf(cs []Container) *Container {
	if len(cs) == 0 {
		return nil
	}
	return &cs[len(cs)-1]
}

// containerSpec finds a container or init container of the pod by name.
func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// fieldPath names a container in events, as the kubelet does.
func fieldPath(pod *corev1.Pod, c *corev1.Container) string {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == c.Name {
			return "spec.initContainers{" + c.Name + "}"
		}
	}
	return "spec.containers{" + c.Name + "}"
}
