package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/control/registry"
)

// maxMessage caps an event's message, as the API does for events.k8s.io notes.
const maxMessage = 1024

// record writes a core/v1 Event about owner. Failing to record is logged, never fatal.
func (l *loop) record(ctx context.Context, owner runtime.Object, typ, reason, message string) {
	EventRecorder{Events: l.events, Kind: l.owner.Resource().Kind, Component: l.component, Now: l.Now, Log: l.log}.
		Record(ctx, owner, typ, reason, message)
}

// EventRecorder writes the events of one controller about objects of one kind.
type EventRecorder struct {
	Events    *registry.Store // nil: events are dropped
	Kind      schema.GroupVersionKind
	Component string
	Now       func() time.Time
	Log       *slog.Logger
}

// Record writes a core/v1 Event about owner. Failing to record is logged, never fatal.
func (l EventRecorder) Record(ctx context.Context, owner runtime.Object, typ, reason, message string) {
	if l.Events == nil {
		return
	}
	m := object(owner)
	if typ != corev1.EventTypeWarning {
		typ = corev1.EventTypeNormal
	}
	if len(message) > maxMessage {
		message = message[:maxMessage]
	}
	now := metav1.NewTime(l.Now())
	gvk := l.Kind
	// Events about cluster-scoped objects (nodes) live in the default namespace, as
	// Kubernetes' recorders put them.
	ns := m.GetNamespace()
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", m.GetName(), time.Now().UnixNano()), Namespace: ns},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Namespace: m.GetNamespace(), Name: m.GetName(),
			UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(),
		},
		Reason: reason, Message: message, Type: typ,
		Source:         corev1.EventSource{Component: l.Component},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: l.Component,
	}
	for attempt := 0; attempt < 3; attempt++ {
		_, err := l.Events.Create(ctx, ns, ev, registry.CreateOptions{FieldManager: l.Component})
		if apierrors.IsAlreadyExists(err) {
			ev.Name = fmt.Sprintf("%s.%x%d", m.GetName(), time.Now().UnixNano(), attempt)
			continue
		}
		if err != nil && ctx.Err() == nil {
			l.Log.Info("cannot record event", "reason", reason, "object", m.GetName(), "err", err)
		}
		return
	}
}
