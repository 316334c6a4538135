package validation

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func validV1Event() *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          objectMeta("web-0.17a1b2c3"),
		EventTime:           metav1.NewMicroTime(time.Unix(1700000000, 0)),
		ReportingController: "skiff.sh/scheduler",
		ReportingInstance:   "control-1",
		Action:              "Binding",
		Reason:              "Scheduled",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: metav1.NamespaceDefault, Name: "web-0"},
		Note:                "Successfully assigned default/web-0 to node-1",
		Type:                corev1.EventTypeNormal,
	}
}

func TestEventsV1Create(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *eventsv1.Event)
		want   []wantErr
	}{
		{"valid", func(e *eventsv1.Event) {}, nil},
		{"valid series", func(e *eventsv1.Event) {
			e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Unix(1700000100, 0))}
		}, nil},
		// With an event time, Kubernetes only requires events about
		// cluster-scoped objects to live in default or kube-system.
		{"valid regarding another namespace", func(e *eventsv1.Event) { e.Regarding.Namespace = "other" }, nil},
		{"cluster-scoped regarding outside default", func(e *eventsv1.Event) {
			e.Namespace, e.Regarding = "team-a", corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}, []wantErr{invalid("regarding.namespace", "does not match event.namespace")}},
		{"missing reason", func(e *eventsv1.Event) { e.Reason = "" },
			[]wantErr{required("reason", "")}},
		{"action too long", func(e *eventsv1.Event) { e.Action = strings.Repeat("a", 129) },
			[]wantErr{invalid("action", "can have at most 128 characters")}},
		{"note too long", func(e *eventsv1.Event) { e.Note = strings.Repeat("n", 1025) },
			[]wantErr{invalid("note", "can have at most 1024 characters")}},
		{"missing event time", func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} },
			[]wantErr{required("eventTime", "")}},
		{"bad type", func(e *eventsv1.Event) { e.Type = "Info" },
			[]wantErr{invalid("type", "has invalid value: Info")}},
		{"deprecated count set", func(e *eventsv1.Event) { e.DeprecatedCount = 3 },
			[]wantErr{invalid("deprecatedCount", "needs to be unset")}},
		{"short series", func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 1} },
			[]wantErr{invalid("series.count", "should be at least 2"), required("series.lastObservedTime", "")}},
		{"bad name", func(e *eventsv1.Event) { e.Name = "Web_0" },
			[]wantErr{invalid("metadata.name", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validV1Event()
			tt.mutate(e)
			checkErrs(t, ValidateCreate(e), tt.want...)
		})
	}
}

func TestEventsV1Update(t *testing.T) {
	old := validV1Event()
	old.ObjectMeta = withRV(old.ObjectMeta)
	e := old.DeepCopy()
	e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Unix(1700000100, 0))}
	checkErrs(t, ValidateUpdate(e, old))
	e.Note = "changed"
	e.Reason = "Moved"
	checkErrs(t, ValidateUpdate(e, old), invalid("note", "field is immutable"), invalid("reason", "field is immutable"))
}
