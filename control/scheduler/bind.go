package scheduler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/control/registry"
)

// errSkip marks a pod that needs no binding any more (bound by someone else, being deleted).
type errSkip struct{ error }

// bind assigns the pod to the node as pods/binding does (control/apiserver): only a pod without
// a node and not being deleted, only the same pod (UID), with the PodScheduled condition. It
// returns the attempt's result: "scheduled", "skipped" (gone, deleted or already bound) or
// "error".
func (s *Scheduler) bind(ctx context.Context, pod *corev1.Pod, node string) (string, error) {
	_, _, err := s.pods.Update(ctx, pod.Namespace, pod.Name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, errSkip{apierrors.NewNotFound(s.pods.Resource().GroupResource(), pod.Name)}
		}
		p := cur.(*corev1.Pod)
		switch {
		case p.UID != pod.UID:
			return nil, errSkip{fmt.Errorf("pod %s was replaced (UID %s, scheduled %s)", pod.Name, p.UID, pod.UID)}
		case p.DeletionTimestamp != nil:
			return nil, errSkip{fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name)}
		case p.Spec.NodeName != "":
			return nil, errSkip{fmt.Errorf("pod %s is already assigned to node %q", pod.Name, p.Spec.NodeName)}
		}
		p.Spec.NodeName = node
		setCondition(&p.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		p.ResourceVersion = ""
		return p, nil
	}, registry.UpdateOptions{Subresource: "binding"})
	if _, ok := err.(errSkip); ok || apierrors.IsNotFound(err) {
		return "skipped", err
	}
	if err != nil {
		return "error", err
	}
	s.rec.forget(pod.UID)
	if !s.cfg.NoScheduledEvents {
		s.rec.event(pod, corev1.EventTypeNormal, "Scheduled", fmt.Sprintf("Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node))
	}
	return "scheduled", nil
}

// setCondition sets c among st's conditions, keeping the transition time when the status stays.
func setCondition(st *corev1.PodStatus, c corev1.PodCondition) bool {
	for i := range st.Conditions {
		old := &st.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return false
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return true
	}
	st.Conditions = append(st.Conditions, c)
	return true
}

// recorder writes the scheduler's events and PodScheduled=False conditions beside the workers,
// as client-go's event broadcaster does: a bounded queue, dropped (and counted) when full. A pod's
// repeated FailedScheduling event with the same message is one event with a growing count.
type recorder struct {
	s       *Scheduler
	q       chan func(context.Context)
	dropped atomic.Uint64

	mu   sync.Mutex
	last map[types.UID]*lastEvent // the pod's last FailedScheduling event
}

type lastEvent struct {
	name, message string
}

func newRecorder(s *Scheduler, size int) *recorder {
	return &recorder{s: s, q: make(chan func(context.Context), size), last: map[types.UID]*lastEvent{}}
}

func (r *recorder) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for range 8 { // concurrent writes commit together
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case f := <-r.q:
					f(ctx)
				}
			}
		})
	}
}

func (r *recorder) enqueue(f func(context.Context)) {
	select {
	case r.q <- f:
	default:
		if r.dropped.Add(1)%1000 == 1 {
			r.s.log.Warn("scheduler: event queue full, dropping events", "dropped", r.dropped.Load())
		}
	}
}

func (r *recorder) forget(uid types.UID) {
	r.mu.Lock()
	delete(r.last, uid)
	r.mu.Unlock()
}

func objectRef(pod *corev1.Pod) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
		UID: pod.UID, ResourceVersion: pod.ResourceVersion}
}

func (r *recorder) newEvent(pod *corev1.Pod, typ, reason, message string) *corev1.Event {
	now := metav1.Now()
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: pod.Namespace, Name: fmt.Sprintf("%s.%x", pod.Name, now.UnixNano())},
		InvolvedObject: objectRef(pod),
		Reason:         reason, Message: message, Type: typ,
		Source:         corev1.EventSource{Component: r.s.cfg.Name},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
}

// event records a new event on the pod.
func (r *recorder) event(pod *corev1.Pod, typ, reason, message string) {
	r.enqueue(func(ctx context.Context) {
		if _, err := r.s.events.Create(ctx, pod.Namespace, r.newEvent(pod, typ, reason, message), registry.CreateOptions{}); err != nil && ctx.Err() == nil {
			r.s.log.Info("scheduler: event not recorded", "pod", podKey(pod), "reason", reason, "err", err)
		}
	})
}

// failed records a FailedScheduling event, or counts a repeat of the last one, and with
// unschedulable marks the pod PodScheduled=False, reason Unschedulable.
func (r *recorder) failed(pod *corev1.Pod, message string, unschedulable bool) {
	r.enqueue(func(ctx context.Context) {
		r.mu.Lock()
		last := r.last[pod.UID]
		r.mu.Unlock()
		if last != nil && last.message == message {
			_, _, err := r.s.events.Update(ctx, pod.Namespace, last.name, func(cur runtime.Object) (runtime.Object, error) {
				if cur == nil {
					return nil, apierrors.NewNotFound(r.s.events.Resource().GroupResource(), last.name)
				}
				ev := cur.(*corev1.Event)
				ev.Count++
				ev.LastTimestamp = metav1.Now()
				return ev, nil
			}, registry.UpdateOptions{})
			if err == nil {
				return
			}
		}
		ev := r.newEvent(pod, corev1.EventTypeWarning, "FailedScheduling", message)
		if _, err := r.s.events.Create(ctx, pod.Namespace, ev, registry.CreateOptions{}); err != nil {
			if ctx.Err() == nil {
				r.s.log.Info("scheduler: event not recorded", "pod", podKey(pod), "err", err)
			}
		} else {
			r.mu.Lock()
			r.last[pod.UID] = &lastEvent{name: ev.Name, message: message}
			r.mu.Unlock()
		}
		if !unschedulable || !r.s.cfg.UnschedulableCondition {
			return
		}
		reason := corev1.PodReasonUnschedulable
		_, _, err := r.s.pods.Update(ctx, pod.Namespace, pod.Name, func(cur runtime.Object) (runtime.Object, error) {
			if cur == nil {
				return nil, apierrors.NewNotFound(r.s.pods.Resource().GroupResource(), pod.Name)
			}
			p := cur.(*corev1.Pod)
			if p.UID != pod.UID || p.Spec.NodeName != "" {
				return p, nil
			}
			p.ResourceVersion = ""
			setCondition(&p.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
				Reason: reason, Message: message, LastTransitionTime: metav1.Now()})
			return p, nil
		}, registry.UpdateOptions{Subresource: "status", FieldManager: r.s.cfg.Name})
		if err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) && !strings.Contains(err.Error(), "modified") {
			r.s.log.Info("scheduler: pod condition not written", "pod", podKey(pod), "err", err)
		}
	})
}
