package resources

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/api/convert"
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
	ev.ToStorage = func(obj runtime.Object) runtime.Object { return convert.CoreEvent(obj.(*eventsv1.Event)) }
	ev.FromStorage = func(obj runtime.Object) runtime.Object { return convert.EventsEvent(obj.(*corev1.Event)) }
	ev.Fields = func(obj runtime.Object) fields.Set { return eventFields(convert.CoreEvent(obj.(*eventsv1.Event))) }
	return ev
}
