package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/controllers"
	"github.com/skiff-sh/skiff/control/registry"
)

func podTemplate(app, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
	}
}

func TestReplicaSet(t *testing.T) {
	e := newEnv(t, controllers.Native())
	ctx := context.Background()
	obj, err := e.rss.Create(ctx, ns, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: new(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: podTemplate("web", "nginx:1"),
		},
	}, registry.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs := obj.(*appsv1.ReplicaSet)
	uid := string(rs.UID)

	status := func(want appsv1.ReplicaSetStatus) func() error {
		return func() error {
			obj, err := e.rss.Get(ctx, ns, "web")
			if err != nil {
				return err
			}
			got := obj.(*appsv1.ReplicaSet)
			g := got.Status
			if g.Replicas != want.Replicas || g.ReadyReplicas != want.ReadyReplicas || g.AvailableReplicas != want.AvailableReplicas ||
				g.FullyLabeledReplicas != want.FullyLabeledReplicas || g.ObservedGeneration != got.Generation {
				return fmt.Errorf("status %+v (generation %d), want %+v", g, got.Generation, want)
			}
			if n := len(e.podsOf(uid)); n != int(want.Replicas) {
				return fmt.Errorf("%d pods, want %d", n, want.Replicas)
			}
			return nil
		}
	}
	eventually(t, 10*time.Second, status(appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}))
	for _, p := range e.podsOf(uid) {
		ref := metav1.GetControllerOf(&p)
		if !strings.HasPrefix(p.Name, "web-") || p.GenerateName != "web-" || ref.Kind != "ReplicaSet" || ref.Name != "web" ||
			ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion || p.Labels["app"] != "web" || p.Spec.Containers[0].Image != "nginx:1" {
			t.Errorf("pod %s: generateName %q, owner %+v, labels %v", p.Name, p.GenerateName, ref, p.Labels)
		}
	}
	if got := e.eventReasons("web")["SuccessfulCreate"]; got != 3 {
		t.Errorf("%d SuccessfulCreate events, want 3", got)
	}

	t.Run("scale down deletes not-ready before ready", func(t *testing.T) {
		// A fourth pod that never becomes ready: the orphan is adopted, then it is the one deleted.
		e.setReady(func(p *corev1.Pod) bool { return p.Name != "straggler" })
		if _, err := e.pods.Create(ctx, ns, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "straggler", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1"}}},
		}, registry.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() error {
			_, err := e.pods.Get(ctx, ns, "straggler")
			if !notFound(err) {
				return fmt.Errorf("straggler still there (%v)", err)
			}
			return nil
		})
		eventually(t, 10*time.Second, status(appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}))
		setReplicas(t, e, 1)
		eventually(t, 10*time.Second, status(appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}))
	})

	t.Run("a pod that stops matching is released and replaced", func(t *testing.T) {
		pods := e.podsOf(uid)
		if len(pods) != 1 {
			t.Fatalf("%d pods, want 1", len(pods))
		}
		name := pods[0].Name
		if _, _, err := e.pods.Update(ctx, ns, name, func(cur runtime.Object) (runtime.Object, error) {
			p := cur.(*corev1.Pod)
			p.Labels = map[string]string{"app": "debug"}
			p.ResourceVersion = ""
			return p, nil
		}, registry.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() error {
			obj, err := e.pods.Get(ctx, ns, name)
			if err != nil {
				return err
			}
			if len(obj.(*corev1.Pod).OwnerReferences) != 0 {
				return fmt.Errorf("pod %s still owned", name)
			}
			return status(appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1})()
		})
	})

	t.Run("minReadySeconds", func(t *testing.T) {
		if _, _, err := e.rss.Update(ctx, ns, "web", func(cur runtime.Object) (runtime.Object, error) {
			rs := cur.(*appsv1.ReplicaSet)
			rs.Spec.MinReadySeconds = 2
			rs.Spec.Replicas = new(int32(2))
			rs.ResourceVersion = ""
			return rs, nil
		}, registry.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The new pod is ready but not available for 2s.
		eventually(t, 10*time.Second, func() error {
			obj, err := e.rss.Get(ctx, ns, "web")
			if err != nil {
				return err
			}
			if st := obj.(*appsv1.ReplicaSet).Status; st.ReadyReplicas != 2 || st.AvailableReplicas >= 2 {
				return fmt.Errorf("status %+v, want 2 ready and fewer available", st)
			}
			return nil
		})
		// Then it becomes available without any other change.
		eventually(t, 10*time.Second, status(appsv1.ReplicaSetStatus{Replicas: 2, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}))
	})

	t.Run("cascade delete", func(t *testing.T) {
		if _, _, err := e.rss.Delete(ctx, ns, "web", nil); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() error {
			if n := len(e.podsOf(uid)); n != 0 {
				return fmt.Errorf("%d pods left", n)
			}
			return nil
		})
	})
}

func setReplicas(t *testing.T, e *env, n int32) {
	t.Helper()
	if _, _, err := e.rss.Update(context.Background(), ns, "web", func(cur runtime.Object) (runtime.Object, error) {
		rs := cur.(*appsv1.ReplicaSet)
		rs.Spec.Replicas = &n
		rs.ResourceVersion = ""
		return rs, nil
	}, registry.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
