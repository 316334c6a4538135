package printers

import (
	"reflect"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/api/convert"
)

// addEventsHandlers registers the printer of events.k8s.io/v1 events. Kubernetes
// stores both event APIs as one internal type, so an events.k8s.io event gets
// exactly the core/v1 event's columns and cells.
func addEventsHandlers(h map[reflect.Type]handler) {
	register(h, eventColumns, func(l *eventsv1.EventList) []eventsv1.Event { return l.Items }, printEventsV1Event)
}

func printEventsV1Event(ev *eventsv1.Event, now time.Time) metav1.TableRow {
	return printEvent(convert.CoreEvent(ev), now)
}
