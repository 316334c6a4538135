package podsync

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pod condition types the kubelet owns.
const podReadyToStartContainers corev1.PodConditionType = "PodReadyToStartContainers"

// status is the pod's status as this node sees it, built on the stored one
// (conditions of other writers, QoS class and start time are kept).
func (w *worker) status(pod *corev1.Pod, cs []Container) corev1.PodStatus {
	st := *pod.Status.DeepCopy()
	now := metav1.NewTime(w.s.cfg.Now())
	if w.s.cfg.NodeIP != "" {
		st.HostIP = w.s.cfg.NodeIP
		st.HostIPs = []corev1.HostIP{{IP: w.s.cfg.NodeIP}}
	}
	if w.attach != nil && w.attach.IP.IsValid() {
		st.PodIP = w.attach.IP.String()
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	if st.StartTime == nil {
		st.StartTime = &now
	}

	initDone := true
	st.InitContainerStatuses = nil
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		s := w.containerStatus(c, instancesOf(cs, c.Name), "PodInitializing")
		st.InitContainerStatuses = append(st.InitContainerStatuses, s)
		if s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
			initDone = false
		}
	}
	st.ContainerStatuses = nil
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		reason := "ContainerCreating"
		if !initDone {
			reason = "PodInitializing"
		}
		st.ContainerStatuses = append(st.ContainerStatuses, w.containerStatus(c, instancesOf(cs, c.Name), reason))
	}
	st.Phase = phase(pod, st.InitContainerStatuses, st.ContainerStatuses, initDone)

	var unready, uninitialized []string
	for _, s := range st.ContainerStatuses {
		if !s.Ready {
			unready = append(unready, s.Name)
		}
	}
	for _, s := range st.InitContainerStatuses {
		if s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
			uninitialized = append(uninitialized, s.Name)
		}
	}
	set := func(t corev1.PodConditionType, ok bool, reason, message string) {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: message}
		if ok {
			c = corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
		}
		setCondition(&st, c, now)
	}
	set(podReadyToStartContainers, w.attach != nil, "", "")
	set(corev1.PodInitialized, initDone, "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(uninitialized, " ")))
	switch {
	case st.Phase == corev1.PodSucceeded:
		set(corev1.ContainersReady, false, "PodCompleted", "")
		set(corev1.PodReady, false, "PodCompleted", "")
	default:
		msg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
		set(corev1.ContainersReady, len(unready) == 0, "ContainersNotReady", msg)
		ready, reason := len(unready) == 0, "ContainersNotReady"
		if ready {
			var gates []string
			for _, g := range pod.Spec.ReadinessGates {
				if c := condition(&st, g.ConditionType); c == nil || c.Status != corev1.ConditionTrue {
					gates = append(gates, string(g.ConditionType))
				}
			}
			if len(gates) > 0 {
				ready, reason, msg = false, "ReadinessGatesNotReady", fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", gates[0])
			}
		}
		set(corev1.PodReady, ready, reason, msg)
	}
	return st
}

// containerStatus is one container's status from its instances (oldest
// first). pendingReason says why a container with no instance waits.
func (w *worker) containerStatus(c *corev1.Container, insts []Container, pendingReason string) corev1.ContainerStatus {
	s := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: new(false)}
	latest := lastOf(insts)
	if latest == nil {
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: pendingReason}
		if wt := w.waiting[c.Name]; wt != nil {
			s.State.Waiting = wt.DeepCopy()
		}
		return s
	}
	s.ContainerID = "containerd://" + latest.ID
	s.ImageID = latest.ImageID
	s.RestartCount = int32(latest.Attempt)
	switch latest.State {
	case StateRunning:
		s.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(latest.StartedAt)}
		started, ready := true, true
		if r := w.probes[c.Name]; r != nil && r.id == latest.ID {
			started, ready = r.set.Started(), r.set.Ready()
		} else if c.StartupProbe != nil || c.ReadinessProbe != nil {
			started, ready = c.StartupProbe == nil, false
		}
		s.Started, s.Ready = &started, ready
	case StateCreated:
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		if wt := w.waiting[c.Name]; wt != nil {
			s.State.Waiting = wt.DeepCopy()
		}
	case StateExited:
		t := terminated(latest)
		if wt := w.waiting[c.Name]; wt != nil {
			s.State.Waiting = wt.DeepCopy()
			s.LastTerminationState.Terminated = t
		} else {
			s.State.Terminated = t
		}
	}
	if s.LastTerminationState.Terminated == nil && len(insts) > 1 {
		s.LastTerminationState.Terminated = terminated(&insts[len(insts)-2])
	}
	return s
}

func terminated(c *Container) *corev1.ContainerStateTerminated {
	reason := c.Reason
	if reason == "" {
		reason = "Completed"
		if c.ExitCode != 0 {
			reason = "Error"
		}
	}
	return &corev1.ContainerStateTerminated{
		ExitCode: int32(c.ExitCode), Reason: reason, ContainerID: "containerd://" + c.ID,
		StartedAt: metav1.NewTime(c.StartedAt), FinishedAt: metav1.NewTime(c.FinishedAt),
	}
}

// phase is the kubelet's getPhase.
func phase(pod *corev1.Pod, inits, containers []corev1.ContainerStatus, initDone bool) corev1.PodPhase {
	if !initDone {
		for _, s := range inits {
			if t := s.State.Terminated; t != nil && t.ExitCode != 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				return corev1.PodFailed
			}
		}
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, s := range containers {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil && s.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped == len(containers) && stopped > 0:
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways, "":
			return corev1.PodRunning
		}
		if succeeded == stopped {
			return corev1.PodSucceeded
		}
		if pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure {
			return corev1.PodRunning
		}
		return corev1.PodFailed
	}
	return corev1.PodPending
}

func condition(st *corev1.PodStatus, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition sets c, keeping the transition time when its status is the
// same as before.
func setCondition(st *corev1.PodStatus, c corev1.PodCondition, now metav1.Time) {
	if old := condition(st, c.Type); old != nil {
		c.LastTransitionTime = old.LastTransitionTime
		if old.Status != c.Status || old.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
		}
		c.LastProbeTime = old.LastProbeTime
		*old = c
		return
	}
	c.LastTransitionTime = now
	st.Conditions = append(st.Conditions, c)
	order := map[corev1.PodConditionType]int{
		podReadyToStartContainers: 0, corev1.PodInitialized: 1, corev1.PodReady: 2, corev1.ContainersReady: 3, corev1.PodScheduled: 4,
	}
	sort.SliceStable(st.Conditions, func(i, j int) bool {
		oi, iok := order[st.Conditions[i].Type]
		oj, jok := order[st.Conditions[j].Type]
		if !iok {
			oi = 99
		}
		if !jok {
			oj = 99
		}
		return oi < oj
	})
}

// writeStatus writes st if it differs from what the API and this worker
// last had.
func (w *worker) writeStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) {
	if equality.Semantic.DeepEqual(pod.Status, st) {
		return
	}
	// What this worker last wrote stands until the API shows a later
	// version (another writer, such as the node lifecycle controller marking
	// the pod not ready, or the informer catching up with a different
	// result): until then the API's copy is stale.
	if w.written != nil && equality.Semantic.DeepEqual(*w.written, st) && !newerThan(pod.ResourceVersion, w.writtenRV) {
		return
	}
	p := pod.DeepCopy()
	p.Status = st
	p.ResourceVersion = "" // the node owns a bound pod's status: an unconditional update
	out, err := w.s.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{FieldManager: "skiff-node"})
	switch {
	case apierrors.IsNotFound(err):
		return
	case err != nil:
		w.s.log.Error("write pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		w.wakeIn(retryAfterError)
		return
	}
	w.written, w.writtenRV = &st, out.ResourceVersion
}

// newerThan reports whether resourceVersion rv is later than base (store
// revisions; an unparsable one counts as newer, so the status is written).
func newerThan(rv, base string) bool {
	a, errA := strconv.ParseInt(rv, 10, 64)
	b, errB := strconv.ParseInt(base, 10, 64)
	return errA != nil || errB != nil || a > b
}

// confirmDeletion deletes the pod with no grace left: it has stopped.
func (w *worker) confirmDeletion(ctx context.Context, pod *corev1.Pod) error {
	err := w.s.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
