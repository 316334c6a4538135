package resources

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/api/defaulting"
	"github.com/skiff-sh/skiff/control/registry"
)

func core(alloc *serviceAllocator, tolerationSeconds int64) []*registry.Resource {
	gv := corev1.SchemeGroupVersion

	ns := base(gv.WithKind("Namespace"), "namespaces", "namespace", false,
		func() runtime.Object { return &corev1.Namespace{} }, func() runtime.Object { return &corev1.NamespaceList{} })
	ns.ShortNames = []string{"ns"}
	ns.Status = true
	ns.PrepareForCreate = func(obj runtime.Object) {
		n := obj.(*corev1.Namespace)
		defaulting.PrepareNamespaceForCreate(n)
		n.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	}
	ns.Finalizing = func(obj runtime.Object) bool { return len(obj.(*corev1.Namespace).Spec.Finalizers) > 0 }
	ns.PrepareForDelete = func(obj runtime.Object) { obj.(*corev1.Namespace).Status.Phase = corev1.NamespaceTerminating }
	ns.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
	}

	node := base(gv.WithKind("Node"), "nodes", "node", false,
		func() runtime.Object { return &corev1.Node{} }, func() runtime.Object { return &corev1.NodeList{} })
	node.ShortNames = []string{"no"}
	node.Prefix = "/registry/minions"
	node.Status = true
	node.AllowCreateOnUpdate = false
	node.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"spec.unschedulable": boolString(obj.(*corev1.Node).Spec.Unschedulable)}
	}

	pod := base(gv.WithKind("Pod"), "pods", "pod", true,
		func() runtime.Object { return &corev1.Pod{} }, func() runtime.Object { return &corev1.PodList{} })
	pod.ShortNames = []string{"po"}
	pod.Categories = []string{"all"}
	pod.Status = true
	pod.Generation = true
	pod.PrepareForCreate = func(obj runtime.Object) {
		preparePodForCreate(obj)
		addDefaultTolerations(obj.(*corev1.Pod), tolerationSeconds)
	}
	pod.Fields = podFields
	pod.GracePeriod = podGracePeriod

	svc := base(gv.WithKind("Service"), "services", "service", true,
		func() runtime.Object { return &corev1.Service{} }, func() runtime.Object { return &corev1.ServiceList{} })
	svc.ShortNames = []string{"svc"}
	svc.Categories = []string{"all"}
	svc.Prefix = "/registry/services/specs"
	svc.Status = true
	svc.PrepareForCreate = func(obj runtime.Object) { obj.(*corev1.Service).Status = corev1.ServiceStatus{} }
	svc.Allocate = alloc.allocate
	svc.Release = alloc.releaseAll

	ep := base(gv.WithKind("Endpoints"), "endpoints", "endpoints", true,
		func() runtime.Object { return &corev1.Endpoints{} }, func() runtime.Object { return &corev1.EndpointsList{} })
	ep.ShortNames = []string{"ep"}
	ep.Prefix = "/registry/services/endpoints"
	ep.AllowCreateOnUpdate = true

	cm := base(gv.WithKind("ConfigMap"), "configmaps", "configmap", true,
		func() runtime.Object { return &corev1.ConfigMap{} }, func() runtime.Object { return &corev1.ConfigMapList{} })
	cm.ShortNames = []string{"cm"}

	secret := base(gv.WithKind("Secret"), "secrets", "secret", true,
		func() runtime.Object { return &corev1.Secret{} }, func() runtime.Object { return &corev1.SecretList{} })
	secret.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"type": string(obj.(*corev1.Secret).Type)}
	}

	ev := base(gv.WithKind("Event"), "events", "event", true,
		func() runtime.Object { return &corev1.Event{} }, func() runtime.Object { return &corev1.EventList{} })
	ev.ShortNames = []string{"ev"}
	ev.AllowCreateOnUpdate = true
	ev.Fields = eventFields

	return []*registry.Resource{ns, node, pod, svc, ep, cm, secret, ev}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// preparePodForCreate sets the status a new pod starts with.
func preparePodForCreate(obj runtime.Object) {
	p := obj.(*corev1.Pod)
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&p.Spec)}
	if p.Spec.NodeName != "" {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	}
}

// Taints a lost node gets (see control/nodelifecycle).
const (
	taintNotReady    = "node.kubernetes.io/not-ready"
	taintUnreachable = "node.kubernetes.io/unreachable"
)

// addDefaultTolerations is the DefaultTolerationSeconds admission plugin:
// a pod that does not tolerate the not-ready or unreachable NoExecute taint
// tolerates it for seconds (none are added for negative seconds).
func addDefaultTolerations(p *corev1.Pod, seconds int64) {
	if seconds < 0 {
		return
	}
	for _, key := range []string{taintNotReady, taintUnreachable} {
		tolerated := false
		for _, t := range p.Spec.Tolerations {
			effect := t.Effect == "" || t.Effect == corev1.TaintEffectNoExecute
			keyed := t.Key == key || (t.Key == "" && t.Operator == corev1.TolerationOpExists)
			value := t.Operator == corev1.TolerationOpExists || t.Value == "" // the taint has no value
			tolerated = tolerated || (effect && keyed && value)
		}
		if !tolerated {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{
				Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(seconds),
			})
		}
	}
}

func podFields(obj runtime.Object) fields.Set {
	p := obj.(*corev1.Pod)
	return fields.Set{
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         boolString(p.Spec.HostNetwork),
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             p.Status.PodIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
}

// podGracePeriod is how long a pod's deletion waits for its node: none for
// a pod no node runs (unscheduled or finished), else the requested or the
// pod's own terminationGracePeriodSeconds.
func podGracePeriod(obj runtime.Object, requested *int64) int64 {
	p := obj.(*corev1.Pod)
	if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return 0
	}
	if requested != nil {
		return max(*requested, 0)
	}
	if p.Spec.TerminationGracePeriodSeconds != nil {
		return max(*p.Spec.TerminationGracePeriodSeconds, 0)
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

func eventFields(obj runtime.Object) fields.Set {
	e := obj.(*corev1.Event)
	return fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         e.Source.Component,
		"type":                           e.Type,
	}
}
