package printers

import (
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// addEventsHandlers registers the printer of events.k8s.io/v1 events. Kubernetes
// stores both event APIs as one internal type, so an events.k8s.io event gets
// exactly the core/v1 event's columns and cells.
func addEventsHandlers(h map[reflect.Type]handler) {
	register(h, eventColumns, func(l *eventsv1.EventList) []eventsv1.Event { return l.Items }, printEventsV1Event)
}

func printEventsV1Event(ev *eventsv1.Event, now time.Time) metav1.TableRow {
	core := coreEvent(ev)
	return printEvent(&core, now)
}

// coreEvent converts an events.k8s.io/v1 event to core/v1 the way Kubernetes'
// conversion to the internal type does: regarding becomes involvedObject,
// note becomes message, and the deprecated fields fill their core namesakes.
func coreEvent(ev *eventsv1.Event) corev1.Event {
	out := corev1.Event{
		ObjectMeta:          ev.ObjectMeta,
		InvolvedObject:      ev.Regarding,
		Reason:              ev.Reason,
		Message:             ev.Note,
		Source:              ev.DeprecatedSource,
		FirstTimestamp:      ev.DeprecatedFirstTimestamp,
		LastTimestamp:       ev.DeprecatedLastTimestamp,
		Count:               ev.DeprecatedCount,
		Type:                ev.Type,
		EventTime:           ev.EventTime,
		Related:             ev.Related,
		Action:              ev.Action,
		ReportingController: ev.ReportingController,
		ReportingInstance:   ev.ReportingInstance,
	}
	if ev.Series != nil {
		out.Series = &corev1.EventSeries{Count: ev.Series.Count, LastObservedTime: ev.Series.LastObservedTime}
	}
	return out
}
