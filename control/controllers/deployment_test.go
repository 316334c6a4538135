package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-sh/skiff/control/controllers"
	"github.com/skiff-sh/skiff/control/registry"
)

const (
	revisionAnnotation = "deployment.kubernetes.io/revision"
	hashLabel          = "pod-template-hash"
)

func (e *env) createDeployment(name string, replicas int32, image string, f func(*appsv1.Deployment)) *appsv1.Deployment {
	e.t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, image),
		},
	}
	if f != nil {
		f(d)
	}
	obj, err := e.deploys.Create(context.Background(), ns, d, registry.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create deployment: %v", err)
	}
	return obj.(*appsv1.Deployment)
}

// byRevision maps revision annotation → ReplicaSet.
func (e *env) byRevision(uid string) map[string]appsv1.ReplicaSet {
	out := map[string]appsv1.ReplicaSet{}
	for _, rs := range e.replicaSets(uid) {
		out[rs.Annotations[revisionAnnotation]] = rs
	}
	return out
}

func setImage(image string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image }
}

func TestDeploymentLifecycle(t *testing.T) {
	for name, policies := range map[string]func(*testing.T) map[string]controllers.Reconciler{
		"native": func(*testing.T) map[string]controllers.Reconciler { return controllers.Native() },
		"wasm":   wasmPolicies,
	} {
		t.Run(name, func(t *testing.T) { testLifecycle(t, newEnv(t, policies(t))) })
	}
}

func testLifecycle(t *testing.T, e *env) {
	d := e.createDeployment("web", 3, "nginx:1", func(d *appsv1.Deployment) {
		d.Annotations = map[string]string{"kubernetes.io/change-cause": "first"}
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
			MaxSurge: new(intstr.FromInt32(1)), MaxUnavailable: new(intstr.FromInt32(1)),
		}
	})
	uid := string(d.UID)
	d = e.waitRolledOut("web")
	rss := e.replicaSets(uid)
	if len(rss) != 1 {
		t.Fatalf("%d ReplicaSets, want 1", len(rss))
	}
	first := rss[0]
	hash := first.Labels[hashLabel]
	if hash == "" || first.Name != "web-"+hash || first.Spec.Selector.MatchLabels[hashLabel] != hash ||
		first.Spec.Template.Labels[hashLabel] != hash || first.Annotations[revisionAnnotation] != "1" ||
		first.Annotations["kubernetes.io/change-cause"] != "first" || d.Annotations[revisionAnnotation] != "1" {
		t.Errorf("first ReplicaSet %s labels %v annotations %v selector %v; deployment annotations %v",
			first.Name, first.Labels, first.Annotations, first.Spec.Selector, d.Annotations)
	}
	for _, p := range e.podsOf(string(first.UID)) {
		if p.Labels[hashLabel] != hash {
			t.Errorf("pod %s labels %v, want %s=%s", p.Name, p.Labels, hashLabel, hash)
		}
	}
	if c := condition(d, appsv1.DeploymentProgressing); c == nil || c.Reason != "NewReplicaSetAvailable" || c.Status != corev1.ConditionTrue {
		t.Errorf("Progressing = %+v, want True NewReplicaSetAvailable", c)
	}
	if c := condition(d, appsv1.DeploymentAvailable); c == nil || c.Reason != "MinimumReplicasAvailable" {
		t.Errorf("Available = %+v, want MinimumReplicasAvailable", c)
	}

	t.Run("scale", func(t *testing.T) {
		for _, n := range []int32{5, 2} {
			e.updateDeployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas = &n })
			e.waitRolledOut("web")
			// kubectl counts a scale-down done once observed; the pods follow.
			eventually(t, 10*time.Second, func() error {
				if got := len(e.podsOf(string(first.UID))); got != int(n) {
					return fmt.Errorf("%d pods after scaling to %d", got, n)
				}
				return nil
			})
		}
		e.updateDeployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(4)) })
		e.waitRolledOut("web")
	})

	t.Run("rolling update", func(t *testing.T) {
		stop := watchInvariants(t, e, uid, 4, 1, 1)
		e.updateDeployment("web", func(d *appsv1.Deployment) {
			setImage("nginx:2")(d)
			d.Annotations["kubernetes.io/change-cause"] = "second"
		})
		d := e.waitRolledOut("web")
		stop()
		revs := e.byRevision(uid)
		second, ok := revs["2"]
		if !ok || d.Annotations[revisionAnnotation] != "2" {
			t.Fatalf("revisions %v, deployment revision %q, want 1 and 2", keys(revs), d.Annotations[revisionAnnotation])
		}
		if *second.Spec.Replicas != 4 || *revs["1"].Spec.Replicas != 0 || second.Annotations["kubernetes.io/change-cause"] != "second" {
			t.Errorf("new RS %d replicas (change-cause %q), old %d; want 4 and 0", *second.Spec.Replicas, second.Annotations["kubernetes.io/change-cause"], *revs["1"].Spec.Replicas)
		}
		for _, p := range e.podsOf(string(second.UID)) {
			if p.Spec.Containers[0].Image != "nginx:2" {
				t.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
			}
		}
		eventually(t, 10*time.Second, func() error {
			if n := len(e.podsOf(string(first.UID))); n != 0 {
				return fmt.Errorf("%d old pods left", n)
			}
			return nil
		})
		if n := e.eventReasons("web")["ScalingReplicaSet"]; n < 4 {
			t.Errorf("%d ScalingReplicaSet events, want several", n)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		// What kubectl rollout undo does: patch the template of revision 1 back.
		old := e.byRevision(uid)["1"]
		e.updateDeployment("web", func(d *appsv1.Deployment) {
			tmpl := old.Spec.Template.DeepCopy()
			delete(tmpl.Labels, hashLabel)
			d.Spec.Template = *tmpl
		})
		d := e.waitRolledOut("web")
		revs := e.byRevision(uid)
		back, ok := revs["3"]
		if !ok || back.UID != old.UID || d.Annotations[revisionAnnotation] != "3" || len(revs) != 2 {
			t.Fatalf("revisions %v (want the first ReplicaSet reused as 3), deployment revision %q", keys(revs), d.Annotations[revisionAnnotation])
		}
		if back.Annotations["deployment.kubernetes.io/revision-history"] != "1" {
			t.Errorf("revision-history %q, want 1", back.Annotations["deployment.kubernetes.io/revision-history"])
		}
	})

	t.Run("cascade delete", func(t *testing.T) {
		if _, _, err := e.deploys.Delete(context.Background(), ns, "web", nil); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() error {
			if n := len(e.replicaSets(uid)); n != 0 {
				return fmt.Errorf("%d ReplicaSets left", n)
			}
			list, _ := e.pods.List(context.Background(), ns, metav1.ListOptions{})
			if n := len(list.(*corev1.PodList).Items); n != 0 {
				return fmt.Errorf("%d pods left", n)
			}
			return nil
		})
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func condition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == typ {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// watchInvariants checks, at every change of the Deployment's ReplicaSets and pods, that the
// ReplicaSets never ask for more than replicas+surge pods and that at least
// replicas-unavailable pods stay ready.
func watchInvariants(t *testing.T, e *env, uid string, replicas, surge, unavailable int32) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	check := func(what string) {
		var spec int32
		ready := 0
		for _, rs := range e.replicaSets(uid) {
			spec += *rs.Spec.Replicas
			for _, p := range e.podsOf(string(rs.UID)) {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
		}
		if spec > replicas+surge {
			t.Errorf("after %s: the ReplicaSets want %d pods, more than %d+%d", what, spec, replicas, surge)
		}
		if int32(ready) < replicas-unavailable {
			t.Errorf("after %s: %d ready pods, fewer than %d-%d", what, ready, replicas, unavailable)
		}
	}
	for _, s := range []*registry.Store{e.rss, e.pods} {
		w, err := s.Watch(ctx, ns, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer w.Stop()
			for ev := range w.ResultChan() {
				if ev.Type != watch.Bookmark {
					check(s.Resource().Plural + " " + string(ev.Type))
				}
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}
