package resources

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/registry"
)

// eventsV1 serves events.k8s.io/v1 Events over the same stored objects as
// core/v1 Events, converted field by field as Kubernetes converts them.
func eventsV1() *registry.Resource {
	ev := base(eventsv1.SchemeGroupVersion.WithKind("Event"), "events", "event", true,
		func() runtime.Object { return &eventsv1.Event{} }, func() runtime.Object { return &eventsv1.EventList{} })
	ev.ShortNames = []string{"ev"}
	ev.AllowCreateOnUpdate = true
	ev.Storage = corev1.SchemeGroupVersion.WithKind("Event")
	ev.NewStorage = func() runtime.Object { return &corev1.Event{} }
	ev.ToStorage = func(obj runtime.Object) runtime.Object { return coreEvent(obj.(*eventsv1.Event)) }
	ev.FromStorage = func(obj runtime.Object) runtime.Object { return eventsEvent(obj.(*corev1.Event)) }
	ev.Fields = func(obj runtime.Object) fields.Set { return eventFields(coreEvent(obj.(*eventsv1.Event))) }
	return ev
}

// coreEvent is an events.k8s.io/v1 Event as a core/v1 Event.
func coreEvent(in *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		Related:             in.Related,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	if in.Series != nil {
		out.Series = &corev1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	out.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Event"))
	return out
}

// eventsEvent is a core/v1 Event as an events.k8s.io/v1 Event.
func eventsEvent(in *corev1.Event) *eventsv1.Event {
	out := &eventsv1.Event{
		ObjectMeta:               in.ObjectMeta,
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Related:                  in.Related,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	if in.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	out.SetGroupVersionKind(eventsv1.SchemeGroupVersion.WithKind("Event"))
	return out
}
