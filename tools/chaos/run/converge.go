package run

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/tools/chaos/check"
)

// Images the deployment workload switches between (the lab's registry
// mirrors both).
const (
	imageV1 = "gcr.io/google-samples/hello-app:1.0"
	imageV2 = "gcr.io/google-samples/hello-app:2.0"
)

// helloDeployment is a Deployment and Service of hello-world named name.
func helloDeployment(name string, replicas int32) (*appsv1.Deployment, *corev1.Service) {
	labels := map[string]string{"app": name, "app.kubernetes.io/part-of": "skiff-chaos"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64(2)),
					Containers: []corev1.Container{{Name: "hello-app", Image: imageV1,
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}}},
				},
			},
		},
	}
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	return d, s
}

// deploymentWorkload changes the Deployment now and then while faults run:
// scale up, a new image, scale down, back to the old image (a rollback).
func deploymentWorkload(ctx context.Context, client kubernetes.Interface, ns, name string, every time.Duration, log *slog.Logger) {
	steps := []func(d *appsv1.Deployment){
		func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(5)) },
		func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = imageV2 },
		func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(3)) },
		func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = imageV1 },
	}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := client.AppsV1().Deployments(ns).Get(c, name, metav1.GetOptions{})
		if err == nil {
			steps[i%len(steps)](d)
			_, err = client.AppsV1().Deployments(ns).Update(c, d, metav1.UpdateOptions{})
		}
		cancel()
		if err != nil {
			log.Debug("deployment change failed", "step", i%len(steps), "err", err)
		}
	}
}

// bindings watches which node each pod is bound to, to catch a pod bound
// to two nodes. It lists every interval (a watch would do too; a list
// survives every fault without resumption logic).
type bindings struct {
	mu     sync.Mutex
	nodeOf map[string]string // pod UID -> node
	twice  []string
}

func (b *bindings) run(ctx context.Context, client kubernetes.Interface, ns, selector string, every time.Duration) {
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		pods, err := client.CoreV1().Pods(ns).List(c, metav1.ListOptions{LabelSelector: selector})
		cancel()
		if err == nil {
			b.observe(pods.Items)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (b *bindings) observe(pods []corev1.Pod) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nodeOf == nil {
		b.nodeOf = map[string]string{}
	}
	for _, p := range pods {
		n := p.Spec.NodeName
		if n == "" {
			continue
		}
		if old, ok := b.nodeOf[string(p.UID)]; ok && old != n {
			b.twice = append(b.twice, fmt.Sprintf("pod %s (%s) bound to %s, then to %s", p.Name, p.UID, old, n))
		}
		b.nodeOf[string(p.UID)] = n
	}
}

func (b *bindings) doubles() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.twice...)
}

// Overcommitted lists the nodes whose pods (bound, not finished) request
// more CPU or memory than the node can allocate.
func Overcommitted(nodes []corev1.Node, pods []corev1.Pod) []string {
	type sum struct{ cpu, mem resource.Quantity }
	used := map[string]*sum{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		s := used[p.Spec.NodeName]
		if s == nil {
			s = &sum{}
			used[p.Spec.NodeName] = s
		}
		for _, c := range p.Spec.Containers {
			s.cpu.Add(c.Resources.Requests[corev1.ResourceCPU])
			s.mem.Add(c.Resources.Requests[corev1.ResourceMemory])
		}
	}
	var out []string
	for _, n := range nodes {
		s := used[n.Name]
		if s == nil {
			continue
		}
		alloc := n.Status.Allocatable
		if alloc == nil {
			alloc = n.Status.Capacity
		}
		cpu, mem := alloc[corev1.ResourceCPU], alloc[corev1.ResourceMemory]
		if !cpu.IsZero() && s.cpu.Cmp(cpu) > 0 {
			out = append(out, fmt.Sprintf("node %s: pods request %s CPU, it has %s", n.Name, s.cpu.String(), cpu.String()))
		}
		if !mem.IsZero() && s.mem.Cmp(mem) > 0 {
			out = append(out, fmt.Sprintf("node %s: pods request %s memory, it has %s", n.Name, s.mem.String(), mem.String()))
		}
	}
	sort.Strings(out)
	return out
}

// ConvergeConfig says what Converge checks.
type ConvergeConfig struct {
	Namespace   string
	Deployments []string // each must have its replicas Available, and its Service's endpoints equal its ready pods
	Bound       time.Duration
	// Doubles are pods seen bound to two nodes during the run.
	Doubles []string
}

// Converge checks the cluster settles after the faults: within cfg.Bound
// every Deployment is complete (its replicas updated and Available) and
// its Service's ready endpoints are exactly its ready pods; no node is
// over-committed by requests; no pod was bound to two nodes.
func Converge(ctx context.Context, client kubernetes.Interface, cfg ConvergeConfig) check.Verdict {
	v := check.Verdict{Checker: "convergence", Result: check.Pass}
	fail := func(format string, args ...any) {
		v.Result = check.Fail
		v.Violations++
		v.Details = append(v.Details, fmt.Sprintf(format, args...))
	}
	for _, d := range cfg.Doubles {
		fail("%s", d)
	}
	start := time.Now()
	for _, name := range cfg.Deployments {
		var last string
		err := poll(ctx, max(cfg.Bound-time.Since(start), time.Second), 500*time.Millisecond, func() (bool, error) {
			last = deploymentSettled(ctx, client, cfg.Namespace, name)
			return last == "", nil
		})
		if err != nil {
			fail("deployment %s did not settle within %s: %s", name, cfg.Bound, last)
		}
	}
	settled := time.Since(start)
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nodes, err := client.CoreV1().Nodes().List(c, metav1.ListOptions{})
	if err == nil {
		var pods *corev1.PodList
		if pods, err = client.CoreV1().Pods("").List(c, metav1.ListOptions{}); err == nil {
			for _, o := range Overcommitted(nodes.Items, pods.Items) {
				fail("%s", o)
			}
		}
	}
	if err != nil {
		v.Result = check.Fail
		v.Details = append(v.Details, fmt.Sprintf("could not list nodes and pods: %v", err))
	}
	v.Summary = fmt.Sprintf("%d deployments settled in %dms; %d violations", len(cfg.Deployments), settled.Milliseconds(), v.Violations)
	return v
}

// deploymentSettled says what is not settled yet ("" if all is).
func deploymentSettled(ctx context.Context, client kubernetes.Interface, ns, name string) string {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := client.AppsV1().Deployments(ns).Get(c, name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != want || st.AvailableReplicas != want || st.Replicas != want {
		return fmt.Sprintf("generation %d observed %d, replicas %d updated %d available %d total %d", d.Generation, st.ObservedGeneration, want, st.UpdatedReplicas, st.AvailableReplicas, st.Replicas)
	}
	pods, err := client.CoreV1().Pods(ns).List(c, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		return err.Error()
	}
	ready := map[string]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.PodIP != "" && podReady(&p) {
			ready[p.Status.PodIP] = true
		}
	}
	if len(ready) != int(want) {
		return fmt.Sprintf("%d ready pods, want %d", len(ready), want)
	}
	slices, err := client.DiscoveryV1().EndpointSlices(ns).List(c, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return err.Error()
	}
	eps := map[string]bool{}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				for _, a := range ep.Addresses {
					eps[a] = true
				}
			}
		}
	}
	if fmt.Sprint(sortedSet(eps)) != fmt.Sprint(sortedSet(ready)) {
		return fmt.Sprintf("ready endpoints %v, ready pods %v", sortedSet(eps), sortedSet(ready))
	}
	return ""
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
