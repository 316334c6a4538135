package defaulting

import (
	"encoding/json"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestTypesWithoutDefaultsAreUntouched covers the served types Kubernetes
// gives no defaults, and a type this package does not know.
func TestTypesWithoutDefaultsAreUntouched(t *testing.T) {
	tests := []struct {
		name string
		obj  runtime.Object
	}{
		{"core event", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p"}}},
		{"events.k8s.io event", &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, Reason: "Started"}},
		{"lease", &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "l"}}},
		{"scale", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "s"}}},
		{"unknown type", &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := json.Marshal(tt.obj)
			Default(tt.obj)
			after, _ := json.Marshal(tt.obj)
			if string(before) != string(after) {
				t.Errorf("Default changed it:\nbefore: %s\nafter:  %s", before, after)
			}
		})
	}
}

func TestLists(t *testing.T) {
	pods := &corev1.PodList{Items: []corev1.Pod{
		{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "nginx"}}}},
		{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}},
	}}
	Default(pods)
	if got := pods.Items[0].Spec.Containers[0].ImagePullPolicy; got != corev1.PullAlways {
		t.Errorf("item 0 imagePullPolicy = %q, want Always", got)
	}
	if got := pods.Items[1].Spec.RestartPolicy; got != corev1.RestartPolicyNever {
		t.Errorf("item 1 restartPolicy = %q, want Never kept", got)
	}
	if pods.Items[1].Spec.EnableServiceLinks == nil {
		t.Error("item 1 enableServiceLinks not defaulted")
	}

	deps := &appsv1.DeploymentList{Items: []appsv1.Deployment{*helloWorld()}}
	Default(deps)
	if r := deps.Items[0].Spec.Replicas; r == nil || *r != 1 {
		t.Errorf("deployment replicas = %v, want 1", r)
	}
}

// TestIdempotentOnRichObjects runs Default twice over objects with most
// defaulted fields present, as the registry does on update and after patches.
func TestIdempotentOnRichObjects(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		HostNetwork: true,
		Resources:   &corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": mustQuantity("1")}},
		Containers: []corev1.Container{{
			Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			Resources:     corev1.ResourceRequirements{Limits: corev1.ResourceList{"memory": mustQuantity("1.5Gi")}},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{}}},
		}},
		Volumes: []corev1.Volume{{Name: "v"}, {Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}}},
	}}
	for _, obj := range []runtime.Object{
		pod,
		helloWorld(),
		&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityClientIP, Ports: []corev1.ServicePort{{Port: 443}}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}},
		&corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": mustQuantity("2")}}},
		&corev1.ConfigMap{},
		&corev1.Secret{},
	} {
		t.Run(fmt.Sprintf("%T", obj), func(t *testing.T) {
			assertIdempotent(t, obj)
		})
	}
}
