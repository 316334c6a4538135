package trace

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// revisionAnnotation is the deployment controller's revision of a ReplicaSet.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// snapshot is everything Collect read; build turns it into a Timeline without I/O.
type snapshot struct {
	deploy   *appsv1.Deployment
	sets     []appsv1.ReplicaSet // owned by deploy
	pods     []corev1.Pod        // owned by sets
	services []corev1.Service    // selecting the pod template
	slices   []discoveryv1.EndpointSlice
	events   []corev1.Event // the namespace's, unfiltered
}

// entry is a step being built and the pod it belongs to ("" for deployment-level steps).
type entry struct {
	Step
	group string // pod name, or "" for deployment-level steps
}

// podInfo is what is known of a pod, live or already deleted.
type podInfo struct {
	uid  types.UID // "" for a pod known only from its ReplicaSet's events
	node string
	live *corev1.Pod
}

type builder struct {
	s        *snapshot
	entries  []entry
	sets     map[string]types.UID // ReplicaSet name → UID
	pods     map[string]*podInfo
	services map[string]types.UID
	slices   map[string]types.UID
	origin   time.Time // the deployment's creation: older Service events are not part of it
	used     int       // events that became steps
}

// build assembles the timeline of s.
func build(s *snapshot) *Timeline {
	b := &builder{s: s, sets: map[string]types.UID{}, pods: map[string]*podInfo{}, services: map[string]types.UID{},
		slices: map[string]types.UID{}, origin: s.deploy.CreationTimestamp.UTC()}
	b.objects()
	b.events()
	b.status()
	b.clamp()
	steps := make([]Step, len(b.entries))
	sort.SliceStable(b.entries, func(i, j int) bool {
		x, y := b.entries[i], b.entries[j]
		if !x.Time.Equal(y.Time) {
			return x.Time.Before(y.Time)
		}
		if rx, ry := stepRank(x.Step.Step), stepRank(y.Step.Step); rx != ry {
			return rx < ry
		}
		return x.Object < y.Object
	})
	for i, e := range b.entries {
		steps[i] = e.Step
	}
	return &Timeline{Namespace: s.deploy.Namespace, Deployment: s.deploy.Name, Steps: steps, Pods: summarize(steps), Events: b.used}
}

func (b *builder) add(group string, st Step) {
	st.Time = st.Time.UTC()
	b.entries = append(b.entries, entry{Step: st, group: group})
}

// objects adds the steps read from object timestamps and indexes the objects.
func (b *builder) objects() {
	d := b.s.deploy
	b.add("", Step{Time: d.CreationTimestamp.Time, Object: "deployment/" + d.Name, Step: StepCreated,
		Detail: fmt.Sprintf("replicas %d, image %s", replicas(d.Spec.Replicas), images(d.Spec.Template.Spec)), Approx: true})
	for i := range b.s.sets {
		rs := &b.s.sets[i]
		b.sets[rs.Name] = rs.UID
		detail := "revision " + rs.Annotations[revisionAnnotation]
		if rs.Annotations[revisionAnnotation] == "" {
			detail = "revision ?"
		}
		b.add("", Step{Time: rs.CreationTimestamp.Time, Object: "replicaset/" + rs.Name, Step: StepReplicaSet,
			Detail: detail + ", image " + images(rs.Spec.Template.Spec), Approx: true})
	}
	for i := range b.s.pods {
		p := &b.s.pods[i]
		b.pods[p.Name] = &podInfo{uid: p.UID, node: p.Spec.NodeName, live: p}
	}
	for _, svc := range b.s.services {
		b.services[svc.Name] = svc.UID
	}
	for _, sl := range b.s.slices {
		b.slices[sl.Name] = sl.UID
	}
}

// sameUID says an involved object's UID does not contradict the one known ("" knows nothing).
func sameUID(ref, known types.UID) bool { return ref == "" || known == "" || ref == known }

// involves says whether ev is about one of the traced objects.
func (b *builder) involves(ev *corev1.Event) bool {
	ref := ev.InvolvedObject
	if ref.Namespace != "" && ref.Namespace != b.s.deploy.Namespace {
		return false
	}
	switch ref.Kind {
	case "Deployment":
		return ref.Name == b.s.deploy.Name && sameUID(ref.UID, b.s.deploy.UID)
	case "ReplicaSet":
		uid, ok := b.sets[ref.Name]
		return ok && sameUID(ref.UID, uid)
	case "Pod":
		p, ok := b.pods[ref.Name]
		return ok && sameUID(ref.UID, p.uid)
	case "Service":
		uid, ok := b.services[ref.Name]
		return ok && sameUID(ref.UID, uid)
	case "EndpointSlice":
		uid, ok := b.slices[ref.Name]
		return ok && sameUID(ref.UID, uid)
	}
	return false
}

// events adds the steps recorded as events. A first pass learns the pods the ReplicaSets
// created, including those deleted since, so that their events count too.
func (b *builder) events() {
	evs := b.s.events
	for i := range evs {
		ev := &evs[i]
		if ev.InvolvedObject.Kind != "ReplicaSet" || ev.Reason != "SuccessfulCreate" || !b.involves(ev) {
			continue
		}
		if m := reCreatedPod.FindStringSubmatch(ev.Message); m != nil && b.pods[m[1]] == nil {
			b.pods[m[1]] = &podInfo{}
		}
	}
	// Learn the nodes of deleted pods from the scheduler before stamping kubelet steps.
	for i := range evs {
		ev := &evs[i]
		if ev.InvolvedObject.Kind == "Pod" && ev.Reason == "Scheduled" && b.involves(ev) {
			if p := b.pods[ev.InvolvedObject.Name]; p.node == "" {
				if m := reScheduled.FindStringSubmatch(ev.Message); m != nil {
					p.node = m[1]
				}
			}
		}
	}
	for i := range evs {
		ev := &evs[i]
		if b.involves(ev) {
			b.event(ev)
		}
	}
}

// event adds the step of one event about a traced object.
func (b *builder) event(ev *corev1.Event) {
	t, approx := eventTime(ev)
	if t.IsZero() {
		return
	}
	ref := ev.InvolvedObject
	st := Step{Time: t, Approx: approx, Object: strings.ToLower(ref.Kind) + "/" + ref.Name, Node: ev.Source.Host,
		Step: ev.Reason, Detail: ev.Message}
	if st.Node == "" {
		st.Node = ev.ReportingInstance
	}
	group := ""
	switch ref.Kind {
	case "Deployment":
		if ev.Reason == "ScalingReplicaSet" {
			st.Step = StepScaled
		}
	case "ReplicaSet":
		if m := reCreatedPod.FindStringSubmatch(ev.Message); m != nil && ev.Reason == "SuccessfulCreate" {
			group, st.Object, st.Step, st.Detail = m[1], "pod/"+m[1], StepPodCreated, "by replicaset/"+ref.Name
		} else if m := reDeletedPod.FindStringSubmatch(ev.Message); m != nil && ev.Reason == "SuccessfulDelete" {
			group, st.Object, st.Step, st.Detail = m[1], "pod/"+m[1], StepPodDeleted, "by replicaset/"+ref.Name
			if p := b.pods[m[1]]; p != nil {
				st.Node = p.node
			}
		}
	case "Pod":
		group = ref.Name
		c := container(ref)
		if st.Node == "" {
			st.Node = b.pods[ref.Name].node
		}
		switch ev.Reason {
		case "Scheduled":
			st.Step, st.Detail = StepScheduled, "assigned to "+b.pods[ref.Name].node
			if m := reScheduled.FindStringSubmatch(ev.Message); m != nil {
				st.Node, st.Detail = m[1], "assigned to "+m[1]
			}
		case "Pulling":
			st.Step = StepPulling
		case "Pulled":
			st.Step, st.Detail = StepPulled, pulledDetail(ev.Message)
		case ReasonSandboxReady:
			st.Step, st.Detail = StepSandboxReady, sandboxDetail(ev.Message)
		case "Created":
			st.Step, st.Detail = StepContainerCreated, "container "+orMessage(c, ev.Message)
		case "Started":
			st.Step, st.Detail = StepStarted, "container "+orMessage(c, ev.Message)
		case "Killing":
			st.Step = StepKilling
		}
	case "Service":
		if t.Before(b.origin) {
			return // about pods of before this Deployment
		}
		if ev.Reason == ReasonProxyProgrammed {
			st.Step = StepProxyProgrammed
		}
	}
	if ev.Type == corev1.EventTypeWarning {
		st.Detail = "Warning: " + st.Detail
	}
	if ev.Count > 1 {
		st.Detail += fmt.Sprintf(" (x%d, last %s)", ev.Count, ev.LastTimestamp.UTC().Format(time.RFC3339))
	}
	b.add(group, st)
	b.used++
}

// orMessage is the container name, or the last word of msg ("Started container app").
func orMessage(c, msg string) string {
	if c != "" {
		return c
	}
	if f := strings.Fields(msg); len(f) > 0 {
		return strings.TrimSuffix(f[len(f)-1], ".")
	}
	return "?"
}

// has says whether group already has a step named step (for container, when given).
func (b *builder) has(group, step, container string) bool {
	for _, e := range b.entries {
		if e.group == group && e.Step.Step == step && (container == "" || containerOf(e.Detail) == container) {
			return true
		}
	}
	return false
}

// status adds the steps that live objects record in their status: what events did not
// already say, pod Ready, and endpoints.
func (b *builder) status() {
	ready := map[string]time.Time{}
	for i := range b.s.pods {
		p := &b.s.pods[i]
		obj := "pod/" + p.Name
		if !b.has(p.Name, StepPodCreated, "") {
			detail := ""
			if ref := metav1.GetControllerOf(p); ref != nil {
				detail = "by replicaset/" + ref.Name
			}
			b.add(p.Name, Step{Time: p.CreationTimestamp.Time, Object: obj, Step: StepPodCreated, Detail: detail, Approx: true})
		}
		node := p.Spec.NodeName
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue || c.LastTransitionTime.IsZero() {
				continue
			}
			switch c.Type {
			case corev1.PodScheduled:
				if node != "" && !b.has(p.Name, StepScheduled, "") {
					b.add(p.Name, Step{Time: c.LastTransitionTime.Time, Object: obj, Node: node, Step: StepScheduled,
						Detail: "assigned to " + node, Approx: true})
				}
			case corev1.PodReady:
				detail := "Ready=True"
				if p.Status.PodIP != "" {
					detail += ", IP " + p.Status.PodIP
				}
				b.add(p.Name, Step{Time: c.LastTransitionTime.Time, Object: obj, Node: node, Step: StepReady, Detail: detail, Approx: true})
				ready[p.Name] = c.LastTransitionTime.UTC()
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			if r := cs.State.Running; r != nil && !r.StartedAt.IsZero() && !b.has(p.Name, StepStarted, cs.Name) {
				b.add(p.Name, Step{Time: r.StartedAt.Time, Object: obj, Node: node, Step: StepStarted,
					Detail: "container " + cs.Name, Approx: true})
			}
		}
	}
	for i := range b.s.slices {
		sl := &b.s.slices[i]
		written := sliceWritten(sl)
		for _, ep := range sl.Endpoints {
			ref := ep.TargetRef
			if ref == nil || ref.Kind != "Pod" || (ep.Conditions.Ready != nil && !*ep.Conditions.Ready) {
				continue
			}
			p := b.pods[ref.Name]
			if p == nil || !sameUID(ref.UID, p.uid) || b.has(ref.Name, StepEndpoints, "") {
				continue
			}
			t := written
			if r, ok := ready[ref.Name]; ok && r.After(t) {
				t = r
			}
			b.add(ref.Name, Step{Time: t, Object: "pod/" + ref.Name, Node: p.node, Step: StepEndpoints,
				Detail: fmt.Sprintf("in endpointslice %s of service/%s (slice last written)", sl.Name,
					sl.Labels[discoveryv1.LabelServiceName]), Approx: true})
		}
	}
}

// sliceWritten is a slice's last write: its newest managedFields time, else its creation.
func sliceWritten(sl *discoveryv1.EndpointSlice) time.Time {
	t := sl.CreationTimestamp.Time
	for _, mf := range sl.ManagedFields {
		if mf.Time != nil && mf.Time.After(t) {
			t = mf.Time.Time
		}
	}
	return t.UTC()
}

// clamp moves each second-precision step forward to the latest step of its pod (or of the
// deployment) that must precede it and falls within its second: its true time lies in
// [Time, Time+1s) and is not before its causes.
func (b *builder) clamp() {
	idx := make([]int, len(b.entries))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool {
		return stepRank(b.entries[idx[i]].Step.Step) < stepRank(b.entries[idx[j]].Step.Step)
	})
	for _, i := range idx {
		e := &b.entries[i]
		if !e.Approx {
			continue
		}
		r := stepRank(e.Step.Step)
		if r >= rankOther {
			continue
		}
		latest := e.Time
		for _, f := range b.entries {
			if f.group == e.group && stepRank(f.Step.Step) < r && f.Time.After(latest) && f.Time.Before(e.Time.Add(time.Second)) {
				latest = f.Time
			}
		}
		e.Time = latest
	}
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func images(spec corev1.PodSpec) string {
	var out []string
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	return strings.Join(out, ",")
}
