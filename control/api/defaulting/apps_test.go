package defaulting

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// helloWorld is what `kubectl create deployment hello-world --image=nginx`
// sends, less its explicit replicas: 1 (so replicas defaulting is exercised).
func helloWorld() *appsv1.Deployment {
	labels := map[string]string{"app": "hello-world"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-world", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}}},
			},
		},
	}
}

// TestDeploymentMatchesKubeAPIServer compares with the spec kube-apiserver
// 1.37 stores for `kubectl create deployment hello-world --image=nginx`.
func TestDeploymentMatchesKubeAPIServer(t *testing.T) {
	d := helloWorld()
	Default(d)
	assertSameJSON(t, d.Spec, `
progressDeadlineSeconds: 600
replicas: 1
revisionHistoryLimit: 10
selector:
  matchLabels:
    app: hello-world
strategy:
  rollingUpdate:
    maxSurge: 25%
    maxUnavailable: 25%
  type: RollingUpdate
template:
  metadata:
    labels:
      app: hello-world
  spec:
    containers:
    - image: nginx
      imagePullPolicy: Always
      name: nginx
      resources: {}
      terminationMessagePath: /dev/termination-log
      terminationMessagePolicy: File
    dnsPolicy: ClusterFirst
    restartPolicy: Always
    schedulerName: default-scheduler
    securityContext: {}
    terminationGracePeriodSeconds: 30
`)
}

func TestDeployment(t *testing.T) {
	tests := []struct {
		name  string
		in    func(*appsv1.Deployment)
		check func(*testing.T, *appsv1.Deployment)
	}{
		{
			name: "explicit values are kept",
			in: func(d *appsv1.Deployment) {
				d.Spec.Replicas = ptrTo(int32(0))
				d.Spec.RevisionHistoryLimit = ptrTo(int32(2))
				d.Spec.ProgressDeadlineSeconds = ptrTo(int32(60))
				d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptrTo(intstr.FromInt32(1))}
				d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
				d.Spec.Template.Spec.DNSPolicy = corev1.DNSDefault
				d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptrTo(int64(5))
				d.Spec.Template.Spec.SchedulerName = "wasm"
			},
			check: func(t *testing.T, d *appsv1.Deployment) {
				s := d.Spec
				if *s.Replicas != 0 || *s.RevisionHistoryLimit != 2 || *s.ProgressDeadlineSeconds != 60 {
					t.Errorf("replicas/history/deadline = %d/%d/%d, want 0/2/60", *s.Replicas, *s.RevisionHistoryLimit, *s.ProgressDeadlineSeconds)
				}
				if got := s.Strategy.RollingUpdate.MaxSurge.String(); got != "1" {
					t.Errorf("maxSurge = %s, want 1", got)
				}
				if got := s.Strategy.RollingUpdate.MaxUnavailable.String(); got != "25%" {
					t.Errorf("maxUnavailable = %s, want 25%%", got)
				}
				ps := s.Template.Spec
				if ps.DNSPolicy != corev1.DNSDefault || *ps.TerminationGracePeriodSeconds != 5 || ps.SchedulerName != "wasm" {
					t.Errorf("pod spec overrides lost: dns %q grace %d scheduler %q", ps.DNSPolicy, *ps.TerminationGracePeriodSeconds, ps.SchedulerName)
				}
			},
		},
		{
			name: "Recreate gets no rollingUpdate",
			in:   func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			check: func(t *testing.T, d *appsv1.Deployment) {
				if d.Spec.Strategy.RollingUpdate != nil {
					t.Errorf("rollingUpdate = %+v, want nil", d.Spec.Strategy.RollingUpdate)
				}
			},
		},
		{
			name: "template gets no Pod-only defaults",
			in: func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: mustQuantity("1")}
			},
			check: func(t *testing.T, d *appsv1.Deployment) {
				ps := d.Spec.Template.Spec
				if ps.EnableServiceLinks != nil {
					t.Errorf("enableServiceLinks = %v, want unset in a template", *ps.EnableServiceLinks)
				}
				if ps.Containers[0].Resources.Requests != nil {
					t.Errorf("requests = %v, want unset in a template", ps.Containers[0].Resources.Requests)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := helloWorld()
			tt.in(d)
			assertIdempotent(t, d)
			Default(d)
			tt.check(t, d)
		})
	}
}

func TestReplicaSet(t *testing.T) {
	tests := []struct {
		name         string
		replicas     *int32
		wantReplicas int32
	}{
		{name: "unset becomes 1", wantReplicas: 1},
		{name: "zero is kept", replicas: ptrTo(int32(0)), wantReplicas: 0},
		{name: "three is kept", replicas: ptrTo(int32(3)), wantReplicas: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := helloWorld()
			rs := &appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{Name: "hello-world-abc"},
				Spec:       appsv1.ReplicaSetSpec{Replicas: tt.replicas, Selector: d.Spec.Selector, Template: d.Spec.Template},
			}
			assertIdempotent(t, rs)
			Default(rs)
			if *rs.Spec.Replicas != tt.wantReplicas {
				t.Errorf("replicas = %d, want %d", *rs.Spec.Replicas, tt.wantReplicas)
			}
			if rs.Labels != nil {
				t.Errorf("labels = %v, want none copied from the template (apps/v1)", rs.Labels)
			}
			c := rs.Spec.Template.Spec.Containers[0]
			if c.ImagePullPolicy != corev1.PullAlways || c.TerminationMessagePath != "/dev/termination-log" {
				t.Errorf("template container not defaulted: %+v", c)
			}
			if rs.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
				t.Errorf("restartPolicy = %q, want Always", rs.Spec.Template.Spec.RestartPolicy)
			}
		})
	}
}
