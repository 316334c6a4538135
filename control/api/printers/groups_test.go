package printers

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestGroupColumns(t *testing.T) {
	tests := []struct {
		obj        runtime.Object
		want, wide []string
	}{
		{&appsv1.DeploymentList{}, []string{"Name", "Ready", "Up-to-date", "Available", "Age"},
			[]string{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"}},
		{&appsv1.ReplicaSetList{}, []string{"Name", "Desired", "Current", "Ready", "Age"},
			[]string{"Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"}},
		{&discoveryv1.EndpointSliceList{}, []string{"Name", "AddressType", "Ports", "Endpoints", "Age"},
			[]string{"Name", "AddressType", "Ports", "Endpoints", "Age"}},
		{&eventsv1.EventList{}, []string{"Last Seen", "Type", "Reason", "Object", "Message"},
			[]string{"Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"}},
		{&coordinationv1.LeaseList{}, []string{"Name", "Holder", "Age"}, []string{"Name", "Holder", "Age"}},
		{&autoscalingv1.Scale{}, []string{"Name", "Desired", "Available", "Age"}, []string{"Name", "Desired", "Available", "Age"}},
	}
	for _, tt := range tests {
		t.Run(reflect.TypeOf(tt.obj).Elem().Name(), func(t *testing.T) {
			table := mustTable(t, tt.obj, metav1.TableOptions{})
			if got := columnNames(table, false); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("columns = %v, want %v", got, tt.want)
			}
			if got := columnNames(table, true); !reflect.DeepEqual(got, tt.wide) {
				t.Errorf("wide columns = %v, want %v", got, tt.wide)
			}
		})
	}
}

func TestPrintDeploymentAndReplicaSet(t *testing.T) {
	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "web", Image: "nginx:1.27"}, {Name: "proxy", Image: "envoy:1.33"},
	}}}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tests := []struct {
		name string
		obj  runtime.Object
		want []any
	}{{
		name: "deployment rolling out",
		obj: &appsv1.Deployment{ObjectMeta: objMeta("web"),
			Spec:   appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: selector, Template: template},
			Status: appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 2},
		},
		want: []any{"web", "2/3", int64(1), int64(2), "5m", "web,proxy", "nginx:1.27,envoy:1.33", "app=web"},
	}, {
		name: "deployment with an invalid selector",
		obj: &appsv1.Deployment{ObjectMeta: objMeta("bad"), Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}},
		}}},
		want: []any{"bad", "0/1", int64(0), int64(0), "5m", "", "", "<invalid>"},
	}, {
		name: "replica set",
		obj: &appsv1.ReplicaSet{ObjectMeta: objMeta("web-7d9f"),
			Spec:   appsv1.ReplicaSetSpec{Replicas: ptr(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "7d9f"}}, Template: template},
			Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1},
		},
		want: []any{"web-7d9f", int64(3), int64(3), int64(1), "5m", "web,proxy", "nginx:1.27,envoy:1.33", "app=web,pod-template-hash=7d9f"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCells(t, rowCells(t, tt.obj), tt.want) })
	}
}

func TestPrintEndpointSlice(t *testing.T) {
	tests := []struct {
		name  string
		slice discoveryv1.EndpointSlice
		want  []any
	}{{
		name: "ports and more than three addresses",
		slice: discoveryv1.EndpointSlice{ObjectMeta: objMeta("web-abcde"), AddressType: discoveryv1.AddressTypeIPv4,
			Ports: []discoveryv1.EndpointPort{{Port: ptr(int32(80))}, {Name: ptr("metrics")}, {}, {Port: ptr(int32(9090))}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.42.0.1"}}, {Addresses: []string{"10.42.0.2", "10.42.0.3"}}, {Addresses: []string{"10.42.0.4"}},
			},
		},
		want: []any{"web-abcde", "IPv4", "80,metrics,* + 1 more...", "10.42.0.1,10.42.0.2,10.42.0.3 + 1 more...", "5m"},
	}, {
		name:  "empty",
		slice: discoveryv1.EndpointSlice{ObjectMeta: objMeta("web-empty"), AddressType: discoveryv1.AddressTypeIPv6},
		want:  []any{"web-empty", "IPv6", "<unset>", "<unset>", "5m"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCells(t, rowCells(t, &tt.slice), tt.want) })
	}
}

// TestEventsV1EventMatchesCoreEvent checks that an events.k8s.io event prints
// exactly as the core event it converts to.
func TestEventsV1EventMatchesCoreEvent(t *testing.T) {
	regarding := corev1.ObjectReference{Kind: "Pod", Name: "web-7d9f", FieldPath: "spec.containers{web}"}
	ev := &eventsv1.Event{
		ObjectMeta: objMeta("web-7d9f.1"), Regarding: regarding, Type: corev1.EventTypeWarning, Reason: "BackOff",
		Note: "Back-off restarting failed container", ReportingController: "kubelet", ReportingInstance: "node-1",
		EventTime: metav1.NewMicroTime(now.Add(-10 * time.Minute)),
		Series:    &eventsv1.EventSeries{Count: 12, LastObservedTime: metav1.NewMicroTime(now.Add(-30 * time.Second))},
	}
	want := []any{"30s", "Warning", "BackOff", "pod/web-7d9f", "spec.containers{web}", "kubelet, node-1", "Back-off restarting failed container", "10m", int64(12), "web-7d9f.1"}
	checkCells(t, rowCells(t, ev), want)

	deprecated := &eventsv1.Event{
		ObjectMeta: objMeta("old.1"), Regarding: regarding, Type: corev1.EventTypeNormal, Reason: "Started",
		DeprecatedSource: corev1.EventSource{Component: "kubelet"}, DeprecatedCount: 2,
		DeprecatedFirstTimestamp: ago(4 * time.Minute), DeprecatedLastTimestamp: ago(2 * time.Minute),
	}
	checkCells(t, rowCells(t, deprecated), []any{"2m", "Normal", "Started", "pod/web-7d9f", "spec.containers{web}", "kubelet", "", "4m", int64(2), "old.1"})

	// With IncludeObject the row carries the events.k8s.io object, not the core one.
	table := mustTable(t, &eventsv1.EventList{Items: []eventsv1.Event{*ev}}, metav1.TableOptions{IncludeObject: metav1.IncludeObject})
	got, ok := table.Rows[0].Object.Object.(*eventsv1.Event)
	if !ok {
		t.Fatalf("row object is %T, want *eventsv1.Event", table.Rows[0].Object.Object)
	}
	if got.APIVersion != "events.k8s.io/v1" || got.Kind != "Event" || got.Note != ev.Note {
		t.Errorf("row object = %s %s note %q", got.APIVersion, got.Kind, got.Note)
	}
}

func TestPrintLeaseAndScale(t *testing.T) {
	tests := []struct {
		name string
		obj  runtime.Object
		want []any
	}{
		{"held lease", &coordinationv1.Lease{ObjectMeta: objMeta("node-1"), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1")}},
			[]any{"node-1", "node-1", "5m"}},
		{"free lease", &coordinationv1.Lease{ObjectMeta: objMeta("skiff-scheduler")}, []any{"skiff-scheduler", "", "5m"}},
		{"scale", &autoscalingv1.Scale{ObjectMeta: objMeta("web"), Spec: autoscalingv1.ScaleSpec{Replicas: 5}, Status: autoscalingv1.ScaleStatus{Replicas: 3}},
			[]any{"web", int64(5), int64(3), "5m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCells(t, rowCells(t, tt.obj), tt.want) })
	}
}
