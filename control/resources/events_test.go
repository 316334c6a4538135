package resources_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

// TestEventsAreOneResourceInTwoAPIs writes an events.k8s.io/v1 Event and
// reads it as a core/v1 Event, and the other way round.
func TestEventsAreOneResourceInTwoAPIs(t *testing.T) {
	kv := storetest.New(t, 1, nil).Nodes[0].Store()
	reg := registry.NewRegistry(kv, resources.Default(kv))
	ctx := t.Context()
	if _, err := reg.Namespaces().Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	core := reg.StoreFor(corev1.SchemeGroupVersion.WithKind("Event"))
	events := reg.StoreFor(eventsv1.SchemeGroupVersion.WithKind("Event"))
	now := metav1.NowMicro()
	_, err := events.Create(ctx, "default", &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "e1"}, EventTime: now,
		ReportingController: "skiff.dev/scheduler", ReportingInstance: "n1", Action: "Binding", Reason: "Scheduled",
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"}, Note: "assigned default/p to n1", Type: "Normal",
		Series: &eventsv1.EventSeries{Count: 2, LastObservedTime: now},
	}, registry.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := core.Get(ctx, "default", "e1")
	if err != nil {
		t.Fatal(err)
	}
	ce := obj.(*corev1.Event)
	if ce.Message != "assigned default/p to n1" || ce.InvolvedObject.Name != "p" || ce.ReportingController != "skiff.dev/scheduler" || ce.Series == nil || ce.Series.Count != 2 {
		t.Errorf("as core/v1: %+v", ce)
	}
	list, err := core.List(ctx, "default", metav1.ListOptions{FieldSelector: "involvedObject.name=p,reason=Scheduled"})
	if err != nil || len(list.(*corev1.EventList).Items) != 1 {
		t.Errorf("core field selector: %v %v", list, err)
	}

	if _, err := core.Create(ctx, "default", &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e2"},
		InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Namespace: "default", Name: "web"},
		Reason:         "ScalingReplicaSet", Message: "Scaled up", Type: "Normal", Count: 3,
		Source: corev1.EventSource{Component: "deployment-controller"},
	}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, err = events.Get(ctx, "default", "e2")
	if err != nil {
		t.Fatal(err)
	}
	ev := obj.(*eventsv1.Event)
	if ev.Note != "Scaled up" || ev.Regarding.Name != "web" || ev.DeprecatedCount != 3 || ev.DeprecatedSource.Component != "deployment-controller" {
		t.Errorf("as events.k8s.io/v1: %+v", ev)
	}
	if ev.APIVersion != "events.k8s.io/v1" || ev.Kind != "Event" {
		t.Errorf("kind %s %s", ev.APIVersion, ev.Kind)
	}
}
