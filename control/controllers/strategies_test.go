package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/control/controllers"
)

func TestRecreate(t *testing.T) {
	e := newEnv(t, controllers.Native())
	d := e.createDeployment("db", 3, "postgres:1", func(d *appsv1.Deployment) {
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	})
	uid := string(d.UID)
	e.waitRolledOut("db")

	// Never a moment with pods of both templates.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	mixed := ""
	wg.Go(func() {
		for ctx.Err() == nil {
			images := map[string]int{}
			for _, rs := range e.replicaSets(uid) {
				for _, p := range e.podsOf(string(rs.UID)) {
					images[p.Spec.Containers[0].Image]++
				}
			}
			if len(images) > 1 && mixed == "" {
				mixed = fmt.Sprint(images)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	e.updateDeployment("db", setImage("postgres:2"))
	d = e.waitRolledOut("db")
	cancel()
	wg.Wait()
	if mixed != "" {
		t.Errorf("old and new pods at once: %v", mixed)
	}
	revs := e.byRevision(uid)
	if *revs["2"].Spec.Replicas != 3 || *revs["1"].Spec.Replicas != 0 || d.Annotations[revisionAnnotation] != "2" {
		t.Errorf("revisions %v, deployment revision %s", keys(revs), d.Annotations[revisionAnnotation])
	}
}

func TestRevisionHistoryLimit(t *testing.T) {
	e := newEnv(t, controllers.Native())
	d := e.createDeployment("web", 2, "nginx:1", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = new(int32(1)) })
	uid := string(d.UID)
	e.waitRolledOut("web")
	for _, img := range []string{"nginx:2", "nginx:3", "nginx:4"} {
		e.updateDeployment("web", setImage(img))
		e.waitRolledOut("web")
	}
	eventually(t, 10*time.Second, func() error {
		revs := e.byRevision(uid)
		if len(revs) != 2 || revs["4"].Name == "" || revs["3"].Name == "" {
			return fmt.Errorf("revisions %v, want 3 and 4", keys(revs))
		}
		return nil
	})
	// The events are written after the deletions they report.
	eventually(t, 10*time.Second, func() error {
		if n := e.eventReasons("web")["DeletingReplicaSet"]; n < 2 {
			return fmt.Errorf("%d DeletingReplicaSet events, want 2", n)
		}
		return nil
	})
}

func TestPauseAndResume(t *testing.T) {
	e := newEnv(t, controllers.Native())
	d := e.createDeployment("web", 2, "nginx:1", nil)
	uid := string(d.UID)
	e.waitRolledOut("web")
	e.updateDeployment("web", func(d *appsv1.Deployment) {
		d.Spec.Paused = true
		setImage("nginx:2")(d)
	})
	eventually(t, 10*time.Second, func() error {
		d := e.deployment("web")
		if c := condition(d, appsv1.DeploymentProgressing); c == nil || c.Reason != "DeploymentPaused" || c.Status != corev1.ConditionUnknown {
			return fmt.Errorf("Progressing = %+v, want Unknown DeploymentPaused", c)
		}
		return nil
	})
	// Scaling still works while paused; the template does not roll.
	e.updateDeployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(3)) })
	eventually(t, 10*time.Second, func() error {
		rss := e.replicaSets(uid)
		if len(rss) != 1 || *rss[0].Spec.Replicas != 3 || rss[0].Spec.Template.Spec.Containers[0].Image != "nginx:1" {
			return fmt.Errorf("%d ReplicaSets, want the first one scaled to 3", len(rss))
		}
		return nil
	})
	e.updateDeployment("web", func(d *appsv1.Deployment) { d.Spec.Paused = false })
	d = e.waitRolledOut("web")
	if d.Annotations[revisionAnnotation] != "2" || len(e.replicaSets(uid)) != 2 {
		t.Errorf("after resume: revision %q, %d ReplicaSets", d.Annotations[revisionAnnotation], len(e.replicaSets(uid)))
	}
	if c := condition(d, appsv1.DeploymentProgressing); c == nil || c.Reason != "NewReplicaSetAvailable" {
		t.Errorf("Progressing = %+v, want NewReplicaSetAvailable", c)
	}
}

func TestProgressDeadline(t *testing.T) {
	e := newEnv(t, controllers.Native())
	e.setReady(func(p *corev1.Pod) bool { return p.Spec.Containers[0].Image != "broken" })
	e.createDeployment("web", 2, "nginx:1", func(d *appsv1.Deployment) { d.Spec.ProgressDeadlineSeconds = new(int32(2)) })
	e.waitRolledOut("web")
	e.updateDeployment("web", setImage("broken"))
	eventually(t, 15*time.Second, func() error {
		d := e.deployment("web")
		_, msg, failed := rolloutStatus(d)
		c := condition(d, appsv1.DeploymentProgressing)
		if !failed || c == nil || c.Status != corev1.ConditionFalse {
			return fmt.Errorf("rollout status %q, Progressing %+v; want ProgressDeadlineExceeded", msg, c)
		}
		return nil
	})
	// maxUnavailable 25% of 2 rounds down to 0: the old pods all stay.
	d := e.deployment("web")
	if d.Status.AvailableReplicas != 2 {
		t.Errorf("%d available, want the 2 old pods", d.Status.AvailableReplicas)
	}
}

func TestProportionalScaling(t *testing.T) {
	e := newEnv(t, controllers.Native())
	e.setReady(func(p *corev1.Pod) bool { return p.Spec.Containers[0].Image != "broken" })
	d := e.createDeployment("web", 10, "nginx:1", func(d *appsv1.Deployment) {
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
			MaxSurge: new(intstr.FromInt32(3)), MaxUnavailable: new(intstr.FromInt32(2)),
		}
	})
	uid := string(d.UID)
	e.waitRolledOut("web")
	e.updateDeployment("web", setImage("broken"))
	// Stuck: the old ReplicaSet down to 8 (2 unavailable), the new one at 5 (13 = 10+3).
	eventually(t, 10*time.Second, func() error {
		revs := e.byRevision(uid)
		if len(revs) != 2 || *revs["1"].Spec.Replicas != 8 || *revs["2"].Spec.Replicas != 5 {
			return fmt.Errorf("ReplicaSets %v, want 8 old and 5 new", sizes(revs))
		}
		return nil
	})
	e.updateDeployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(30)) })
	// Kubernetes' e2e "proportional scaling": 20 more replicas (+ surge 3 → 33 allowed, 20 to
	// add) split 8:5 → old 20, new 13 (the leftover to the larger).
	eventually(t, 10*time.Second, func() error {
		revs := e.byRevision(uid)
		if *revs["1"].Spec.Replicas != 20 || *revs["2"].Spec.Replicas != 13 {
			return fmt.Errorf("ReplicaSets %v, want 20 old and 13 new", sizes(revs))
		}
		return nil
	})
}

func sizes(revs map[string]appsv1.ReplicaSet) map[string]int32 {
	out := map[string]int32{}
	for k, rs := range revs {
		out[k] = *rs.Spec.Replicas
	}
	return out
}
