package trace

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Step names, in lifecycle order. Events with other reasons keep their reason as the step.
const (
	StepCreated          = "created"            // the Deployment
	StepReplicaSet       = "replicaset created" // one per ReplicaSet, with its revision
	StepScaled           = "scaled"             // the deployment controller scaled a ReplicaSet
	StepPodCreated       = "pod created"
	StepScheduled        = "scheduled"
	StepSandboxReady     = "sandbox ready" // netns + veth, with IP and veth name
	StepPulling          = "pulling"
	StepPulled           = "image pulled" // with the pull duration, or "present"
	StepContainerCreated = "container created"
	StepStarted          = "container started"
	StepReady            = "pod ready"
	StepEndpoints        = "endpoints ready" // an EndpointSlice lists the pod ready
	StepProxyProgrammed  = "proxy programmed"
	StepKilling          = "killing"
	StepPodDeleted       = "pod deleted"
)

// rank orders steps of the same time the way they happen; other steps come after.
var rank = map[string]int{
	StepCreated: 0, StepReplicaSet: 1, StepScaled: 2, StepPodCreated: 3, StepScheduled: 4,
	StepSandboxReady: 5, StepPulling: 6, StepPulled: 7, StepContainerCreated: 8, StepStarted: 9,
	StepReady: 10, StepEndpoints: 11, StepProxyProgrammed: 12, StepKilling: 14, StepPodDeleted: 15,
}

const rankOther = 13

func stepRank(step string) int {
	if r, ok := rank[step]; ok {
		return r
	}
	return rankOther
}

// Timeline is a Deployment's lifecycle: its steps in time order and a summary per pod.
type Timeline struct {
	Namespace  string       `json:"namespace"`
	Deployment string       `json:"deployment"`
	Steps      []Step       `json:"steps"`
	Pods       []PodSummary `json:"pods"`
	// Events is how many events the steps came from; 0 means events have expired (an hour
	// by default) or were never recorded, and times are from object timestamps only.
	Events int `json:"events"`
}

// Step is one thing that happened to one object.
type Step struct {
	// Time is when it happened, in UTC.
	Time time.Time `json:"time"`
	// Object is "kind/name": "deployment/web", "replicaset/web-5d4f", "pod/web-5d4f-abcde",
	// "service/web". Steps about a pod (endpoints included) name the pod.
	Object string `json:"object"`
	// Node is where it happened, for steps on a node.
	Node string `json:"node,omitempty"`
	// Step is one of the Step* names, or the reason of an event of another kind.
	Step string `json:"step"`
	// Detail is a short human description (image and pull time, IP and veth, revision …).
	Detail string `json:"detail,omitempty"`
	// Approx says Time comes from an object timestamp known to the second only: the true
	// time lies in [Time, Time+1s).
	Approx bool `json:"approx,omitempty"`
}

// PodSummary is one pod's way from created to ready.
type PodSummary struct {
	Pod     string    `json:"pod"`
	Node    string    `json:"node,omitempty"`
	Created time.Time `json:"created"`
	// CreatedApprox says Created is known to the second only.
	CreatedApprox bool `json:"createdApprox,omitempty"`
	// Marks are the later steps seen, in lifecycle order: scheduled, pulled (the last image),
	// started (the last container to start first), ready, endpoints, deleted.
	Marks []Mark `json:"marks,omitempty"`
}

// Mark is a step of a pod, relative to its creation.
type Mark struct {
	Step string `json:"step"`
	// After is the time since the pod was created, in nanoseconds in JSON.
	After time.Duration `json:"after"`
	// Approx says one of the two ends is known to the second only.
	Approx bool `json:"approx,omitempty"`
}

// Mark names used in summaries.
const (
	MarkScheduled = "scheduled"
	MarkPulled    = "pulled"
	MarkStarted   = "started"
	MarkReady     = "ready"
	MarkEndpoints = "endpoints"
	MarkDeleted   = "deleted"
)

// Mark returns the mark named step, if the pod reached it.
func (s PodSummary) Mark(step string) (Mark, bool) {
	for _, m := range s.Marks {
		if m.Step == step {
			return m, true
		}
	}
	return Mark{}, false
}

// String is the summary line:
// "pod web-abc: created→ready 1.84s (scheduled +0.01s, pulled +0.30s, started +1.52s)".
// A "~" marks a duration with an end known to the second only.
func (s PodSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s: ", s.Pod)
	if r, ok := s.Mark(MarkReady); ok {
		fmt.Fprintf(&b, "created→ready %s%.2fs", tilde(r.Approx), r.After.Seconds())
	} else {
		b.WriteString("not ready")
	}
	var parts []string
	for _, m := range s.Marks {
		if m.Step == MarkReady {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s+%.2fs", m.Step, tilde(m.Approx), m.After.Seconds()))
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	return b.String()
}

func tilde(approx bool) string {
	if approx {
		return "~"
	}
	return ""
}

// summarize derives the per-pod summaries from steps sorted by time, pods in creation order.
func summarize(steps []Step) []PodSummary {
	type acc struct {
		sum                  PodSummary
		seen                 bool
		scheduled, pulled    *Step
		ready, endpoints, rm *Step
		started              map[string]*Step // first start per container
	}
	pods := map[string]*acc{}
	var order []string
	for i := range steps {
		s := &steps[i]
		name, ok := strings.CutPrefix(s.Object, "pod/")
		if !ok {
			continue
		}
		a := pods[name]
		if a == nil {
			a = &acc{sum: PodSummary{Pod: name}, started: map[string]*Step{}}
			pods[name] = a
			order = append(order, name)
		}
		if s.Node != "" {
			a.sum.Node = s.Node
		}
		switch s.Step {
		case StepPodCreated:
			if !a.seen {
				a.seen, a.sum.Created, a.sum.CreatedApprox = true, s.Time, s.Approx
			}
		case StepScheduled:
			if a.scheduled == nil {
				a.scheduled = s
			}
		case StepPulled:
			a.pulled = s // the last image pulled
		case StepStarted:
			c := containerOf(s.Detail)
			if a.started[c] == nil {
				a.started[c] = s
			}
		case StepReady:
			if a.ready == nil {
				a.ready = s
			}
		case StepEndpoints:
			if a.endpoints == nil {
				a.endpoints = s
			}
		case StepPodDeleted:
			a.rm = s
		}
	}
	var out []PodSummary
	for _, name := range order {
		a := pods[name]
		if !a.seen {
			continue
		}
		var started *Step
		for _, s := range a.started {
			if started == nil || s.Time.After(started.Time) {
				started = s
			}
		}
		for _, m := range []struct {
			name string
			s    *Step
		}{{MarkScheduled, a.scheduled}, {MarkPulled, a.pulled}, {MarkStarted, started}, {MarkReady, a.ready},
			{MarkEndpoints, a.endpoints}, {MarkDeleted, a.rm}} {
			if m.s != nil {
				a.sum.Marks = append(a.sum.Marks, Mark{Step: m.name, After: m.s.Time.Sub(a.sum.Created), Approx: m.s.Approx || a.sum.CreatedApprox})
			}
		}
		out = append(out, a.sum)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// containerOf reads the container name back from a started step's detail ("container app").
func containerOf(detail string) string {
	c, _ := strings.CutPrefix(detail, "container ")
	c, _, _ = strings.Cut(c, " ")
	return c
}
