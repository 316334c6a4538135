package trace

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// base is when the fixture's story starts; the deployment is created at base+0.4s.
var base = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// at is base plus ms milliseconds.
func at(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

// sec is t as the API serves it: whole seconds.
func sec(t time.Time) metav1.Time { return metav1.NewTime(t.Truncate(time.Second)) }

func ctrl(kind, name string, uid types.UID) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}}
}

// ev is an event as client-go's recorder writes it: named "<object>.<hex UnixNano>", with
// firstTimestamp in whole seconds.
func ev(kind, name string, uid types.UID, reason, msg string, when time.Time, component, host string) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("%s.%x", name, when.UnixNano())},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: "default", Name: name, UID: uid},
		Reason:         reason, Message: msg, Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: component, Host: host},
		FirstTimestamp: sec(when), LastTimestamp: sec(when), Count: 1,
	}
}

func deployment(name string, uid types.UID, created time.Time, image string) *appsv1.Deployment {
	l := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uid, CreationTimestamp: sec(created)},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}},
	}
}

func replicaSet(name string, uid types.UID, rev string, created time.Time, image string) *appsv1.ReplicaSet {
	l := map[string]string{"app": "web", "pod-template-hash": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uid, CreationTimestamp: sec(created),
			Labels: l, Annotations: map[string]string{revisionAnnotation: rev}, OwnerReferences: ctrl("Deployment", "web", "d-web")},
		Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}},
	}
}

// livePod is a running, ready pod of web-2 created at created.
func livePod(name string, uid types.UID, node string, created, started, ready time.Time) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uid, CreationTimestamp: sec(created),
			Labels: map[string]string{"app": "web", "pod-template-hash": "web-2"}, OwnerReferences: ctrl("ReplicaSet", "web-2", "rs-2")},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "hello:2"}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.244.1." + name[len(name)-1:],
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: sec(created)},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: sec(ready)},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: sec(started)}}}},
		},
	}
}

// fixture is deployment web after a rollout from revision 1 (one pod, deleted since) to
// revision 2 (three pods on two nodes, Ready, in the Service's EndpointSlice, proxied on both
// nodes), plus objects and events that have nothing to do with it.
func fixture() []runtime.Object {
	const c = "app"
	podEv := func(pod string, uid types.UID, reason, msg string, when time.Time, node string) *corev1.Event {
		e := ev("Pod", pod, uid, reason, msg, when, ComponentKubelet, node)
		if reason == "Pulled" || reason == "Started" || reason == "Created" {
			e.InvolvedObject.FieldPath = "spec.containers{" + c + "}"
		}
		return e
	}
	objs := []runtime.Object{
		deployment("web", "d-web", at(400), "hello:2"),
		replicaSet("web-1", "rs-1", "1", at(450), "hello:1"),
		replicaSet("web-2", "rs-2", "2", at(10000), "hello:2"),
		// revision 1's pod, gone now; only its events remain.
		ev("Deployment", "web", "d-web", "ScalingReplicaSet", "Scaled up replica set web-1 from 0 to 1", at(460), "deployment-controller", ""),
		ev("ReplicaSet", "web-1", "rs-1", "SuccessfulCreate", "Created pod: web-1-old", at(500), "replicaset-controller", ""),
		podEv("web-1-old", "p-old", "Scheduled", "Successfully assigned default/web-1-old to node-1", at(520), ""),
		podEv("web-1-old", "p-old", "Pulled", `Successfully pulled image "hello:1" in 350ms`, at(900), "node-1"),
		podEv("web-1-old", "p-old", "Started", "Started container app", at(1000), "node-1"),
		// revision 2.
		ev("Deployment", "web", "d-web", "ScalingReplicaSet", "Scaled up replica set web-2 from 0 to 3", at(10050), "deployment-controller", ""),
		ev("Deployment", "web", "d-web", "ScalingReplicaSet", "Scaled down replica set web-1 from 1 to 0", at(10850), "deployment-controller", ""),
		ev("ReplicaSet", "web-1", "rs-1", "SuccessfulDelete", "Deleted pod: web-1-old", at(10900), "replicaset-controller", ""),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "s-web", CreationTimestamp: sec(base.Add(-time.Hour))},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}},
		&discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-x7k2", UID: "es-web", CreationTimestamp: sec(base.Add(-time.Hour)),
				Labels: map[string]string{discoveryv1.LabelServiceName: "web"},
				ManagedFields: []metav1.ManagedFieldsEntry{
					{Manager: "endpointslice-controller", Operation: metav1.ManagedFieldsOperationUpdate, Time: ptr.To(sec(at(11500)))},
				}},
			AddressType: discoveryv1.AddressTypeIPv4,
		},
		ev("Service", "web", "s-web", ReasonProxyProgrammed, ProxyProgrammedMessage(3, 4*time.Millisecond), at(11600), ComponentProxy, "node-1"),
		ev("Service", "web", "s-web", ReasonProxyProgrammed, ProxyProgrammedMessage(3, 5*time.Millisecond), at(11700), ComponentProxy, "node-2"),
		// unrelated: before the deployment, another deployment, another service, a stale
		// incarnation of a pod name, a pod the ReplicaSets never created, a bare pod.
		ev("Service", "web", "s-web", ReasonProxyProgrammed, ProxyProgrammedMessage(1, time.Millisecond), base.Add(-30*time.Minute), ComponentProxy, "node-1"),
		deployment("api", "d-api", at(300), "api:1"),
		ev("Deployment", "api", "d-api", "ScalingReplicaSet", "Scaled up replica set api-1 from 0 to 3", at(350), "deployment-controller", ""),
		ev("Pod", "api-1-x", "p-api", "Scheduled", "Successfully assigned default/api-1-x to node-2", at(600), "default-scheduler", ""),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "api", UID: "s-api"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "api"}}},
		ev("Service", "api", "s-api", ReasonProxyProgrammed, ProxyProgrammedMessage(3, time.Millisecond), at(11650), ComponentProxy, "node-1"),
		podEv("web-2-a", "p-a-stale", "Killing", "Stopping container app", at(9000), "node-1"),
		podEv("web-2-zzz", "p-zzz", "Scheduled", "Successfully assigned default/web-2-zzz to node-1", at(10500), ""),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-manual", UID: "p-manual", Labels: map[string]string{"app": "web"}}},
		podEv("web-manual", "p-manual", "Scheduled", "Successfully assigned default/web-manual to node-1", at(10400), ""),
	}
	eps := objs[12].(*discoveryv1.EndpointSlice)
	for i, p := range []struct {
		name  string
		uid   types.UID
		node  string
		pull  string
		pullT int // ms after creation
		start bool
	}{
		{"web-2-a", "p-a", "node-1", `Successfully pulled image "hello:2" in 250ms`, 300, true},
		{"web-2-b", "p-b", "node-2", `Container image "hello:2" already present on machine`, 300, true},
		{"web-2-c", "p-c", "node-1", `Container image "hello:2" already present on machine`, 250, false}, // its Started event is lost
	} {
		created := 10100 + 100*i
		objs = append(objs,
			livePod(p.name, p.uid, p.node, at(created), at(created+500), at(created+550)),
			ev("ReplicaSet", "web-2", "rs-2", "SuccessfulCreate", "Created pod: "+p.name, at(created), "replicaset-controller", ""),
			podEv(p.name, p.uid, "Scheduled", fmt.Sprintf("Successfully assigned default/%s to %s", p.name, p.node), at(created+10), ""),
			podEv(p.name, p.uid, ReasonSandboxReady, SandboxReadyMessage("10.244.1."+p.name[len(p.name)-1:], "sk"+p.name[len(p.name)-1:], 12*time.Millisecond), at(created+50), p.node),
			podEv(p.name, p.uid, "Pulled", p.pull, at(created+p.pullT), p.node),
		)
		if p.start {
			objs = append(objs, podEv(p.name, p.uid, "Started", "Started container app", at(created+500), p.node))
		}
		eps.Endpoints = append(eps.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244.1." + p.name[len(p.name)-1:]},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}, NodeName: ptr.To(p.node),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: p.name, UID: p.uid}})
	}
	return objs
}
