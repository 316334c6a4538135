package scheduler

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/wasm/abi"
	wasmrt "github.com/skiff-sh/skiff/wasm/runtime"
)

// Shadow policies (SchedulingPolicy spec.shadow) run beside the scheduler they shadow, off its
// hot path: once a worker has chosen a node for a pod of that scheduler, it hands the nodes it
// decided on (the same window, as they were before the pod was assumed) to a bounded queue, and
// one shadow worker runs each shadow policy on them. A full queue drops the pod (counted). The
// shadow worker only counts, records events of disagreements and writes the counts to the
// policies' status every ShadowStatusInterval: it never binds and never assumes, and its
// failures are counted, never reported on the pod.

// Results of a ShadowDecision.
const (
	ShadowAgree    = "agree"
	ShadowDisagree = "disagree"
	ShadowFailed   = "failed"
	ShadowDropped  = "dropped"
)

// ReasonShadowPlacement is the reason of the event on a pod that a shadow policy would have
// placed elsewhere.
const ReasonShadowPlacement = "ShadowPlacement"

// ShadowDecision is one shadow policy's decision of one pod, beside the active scheduler's.
type ShadowDecision struct {
	Policy string
	// Pod is "namespace/name"; Scheduler is the pod's scheduler, which placed it on ActiveNode.
	Pod, Scheduler, ActiveNode string
	// ShadowNode is where the shadow policy would have placed it; "" if it found no feasible
	// node, failed or did not run.
	ShadowNode string
	// Result is ShadowAgree (the active node is among the shadow policy's best-scored nodes),
	// ShadowDisagree, ShadowFailed (Err says why) or ShadowDropped (the shadow queue was full).
	Result string
	Err    error
	// Duration is the time in the shadow policy's call (loading it included).
	Duration time.Duration
}

// ShadowMessage is the ShadowPlacement event of a pod that the shadow policy would have placed
// on shadowNode ("" for nowhere) while scheduler chose activeNode.
func ShadowMessage(policy, shadowNode, scheduler, activeNode string) string {
	if shadowNode == "" {
		return fmt.Sprintf("shadow policy %q would not have placed this pod: no node fits (%s chose %s)", policy, scheduler, activeNode)
	}
	return fmt.Sprintf("shadow policy %q would have placed this pod on %s (%s chose %s)", policy, shadowNode, scheduler, activeNode)
}

// shadowStats are a shadow policy's counts since they were last written to its status.
type shadowStats struct {
	mu    sync.Mutex
	delta v1.ShadowStatus
}

func (st *shadowStats) record(d ShadowDecision, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if d.Result != ShadowDropped {
		st.delta.Decisions++
	}
	switch d.Result {
	case ShadowAgree:
		st.delta.Agreements++
	case ShadowDisagree:
		st.delta.Disagreements++
		st.delta.LastDisagreement = &v1.ShadowDisagreement{Pod: d.Pod, ActiveNode: d.ActiveNode, ShadowNode: d.ShadowNode,
			Time: metav1.NewTime(now.Truncate(time.Second))}
	case ShadowFailed:
		st.delta.Failures++
	case ShadowDropped:
		st.delta.Dropped++
	}
}

// take returns and clears the counts; false if there are none.
func (st *shadowStats) take() (v1.ShadowStatus, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.delta
	st.delta = v1.ShadowStatus{}
	return d, d.Decisions != 0 || d.Dropped != 0
}

// putBack returns counts that could not be written.
func (st *shadowStats) putBack(d v1.ShadowStatus) {
	st.mu.Lock()
	defer st.mu.Unlock()
	last := st.delta.LastDisagreement
	addShadow(&st.delta, &d)
	if last != nil {
		st.delta.LastDisagreement = last // newer than d's
	}
}

// addShadow adds d's counts to st; d's last disagreement, if any, replaces st's.
func addShadow(st, d *v1.ShadowStatus) {
	st.Decisions += d.Decisions
	st.Agreements += d.Agreements
	st.Disagreements += d.Disagreements
	st.Failures += d.Failures
	st.Dropped += d.Dropped
	if d.LastDisagreement != nil {
		st.LastDisagreement = d.LastDisagreement.DeepCopy()
	}
}

// shadowJob is one placed pod for the shadow policies of its scheduler.
type shadowJob struct {
	pod        *corev1.Pod
	activeNode string
	in         abi.Input
	names      []string // names[i] is the name of in.Nodes[i]
	shadows    []*upload
}

// shadower runs the shadow policies.
type shadower struct {
	s *Scheduler
	q chan *shadowJob
}

func newShadower(s *Scheduler) *shadower {
	return &shadower{s: s, q: make(chan *shadowJob, s.cfg.ShadowQueue)}
}

// offer queues the pod, placed on node after w's decision, for shadows; it never blocks. The job
// takes over w's captured nodes.
func (sh *shadower) offer(pod *corev1.Pod, node string, w *worker, shadows []*upload) {
	j := &shadowJob{pod: pod, activeNode: node, names: w.seenNames, shadows: shadows,
		in: abi.Input{Pod: w.in.Pod, Nodes: w.seen, Strings: w.in.Strings}}
	select {
	case sh.q <- j:
		w.seen, w.seenNames = nil, nil
	default:
		for _, up := range shadows {
			sh.observe(up, ShadowDecision{Policy: up.name, Pod: podKey(pod), Scheduler: pod.Spec.SchedulerName, ActiveNode: node,
				Result: ShadowDropped})
		}
	}
}

// run decides the queued pods and writes the counts every ShadowStatusInterval until ctx ends,
// then writes the last counts.
func (sh *shadower) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		var res abi.Result
		for {
			select {
			case <-ctx.Done():
				return
			case j := <-sh.q:
				sh.decide(ctx, j, &res)
			}
		}
	})
	t := time.NewTicker(sh.s.cfg.ShadowStatusInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			sh.flush(fctx)
			cancel()
			return
		case <-t.C:
			sh.flush(ctx)
		}
	}
}

// decide runs each shadow policy of the job and records the outcome.
func (sh *shadower) decide(ctx context.Context, j *shadowJob, res *abi.Result) {
	for _, up := range j.shadows {
		start := time.Now()
		d := ShadowDecision{Policy: up.name, Pod: podKey(j.pod), Scheduler: j.pod.Spec.SchedulerName, ActiveNode: j.activeNode}
		m, err := sh.s.up.load(ctx, up)
		if err == nil {
			err = m.Schedule(ctx, &j.in, res)
		}
		d.Duration = time.Since(start)
		if ctx.Err() != nil {
			return // stopping: not the policy's failure
		}
		switch {
		case err != nil:
			d.Result, d.Err = ShadowFailed, err
			sh.failed(up, err)
		default:
			var agree bool
			d.ShadowNode, agree = shadowChoice(res, j.names, j.activeNode)
			d.Result = ShadowDisagree
			if agree {
				d.Result = ShadowAgree
			} else {
				sh.s.rec.event(j.pod, corev1.EventTypeNormal, ReasonShadowPlacement,
					ShadowMessage(up.name, d.ShadowNode, d.Scheduler, d.ActiveNode))
			}
		}
		sh.observe(up, d)
	}
}

func (sh *shadower) observe(up *upload, d ShadowDecision) {
	up.stats.record(d, time.Now())
	if sh.s.cfg.ObserveShadow != nil {
		sh.s.cfg.ObserveShadow(d)
	}
}

// shadowChoice returns the shadow policy's best-scored node (the first of equals) and whether
// the active node is among its best-scored nodes: a tie is an agreement, as the active
// scheduler chose at random among its own equals.
func shadowChoice(res *abi.Result, names []string, active string) (string, bool) {
	best, node := int32(math.MinInt32), ""
	for j, i := range res.Feasible {
		if int(i) < len(names) && j < len(res.Scores) && res.Scores[j] > best {
			best, node = res.Scores[j], names[i]
		}
	}
	if node == "" {
		return "", false
	}
	for j, i := range res.Feasible {
		if int(i) < len(names) && j < len(res.Scores) && res.Scores[j] == best && names[i] == active {
			return active, true
		}
	}
	return node, false
}

// failed notes a shadow policy's quarantine in its Loaded condition, once.
func (sh *shadower) failed(up *upload, err error) {
	sh.s.log.Debug("scheduler: shadow policy failed", "policy", up.name, "err", err)
	if !errors.Is(err, wasmrt.ErrQuarantined) {
		return
	}
	up.mu.Lock()
	first := !up.quarantined
	up.quarantined = true
	up.mu.Unlock()
	if first {
		sh.s.up.setLoaded(up, metav1.ConditionFalse, "Quarantined",
			fmt.Sprintf("shadow policy %q is quarantined after repeated failures; its decisions count as failures until a trial call succeeds: %v", up.name, err))
	}
}

// flush adds each shadow policy's counts to its status.
func (sh *shadower) flush(ctx context.Context) {
	idx := sh.s.up.shadows.Load()
	if idx == nil {
		return
	}
	for _, ups := range *idx {
		for _, up := range ups {
			d, ok := up.stats.take()
			if !ok {
				continue
			}
			if err := sh.write(ctx, up, &d); err != nil && !apierrors.IsNotFound(err) {
				sh.s.log.Info("scheduler: shadow status not written", "policy", up.name, "err", err)
				up.stats.putBack(d)
			}
		}
	}
}

func (sh *shadower) write(ctx context.Context, up *upload, d *v1.ShadowStatus) error {
	s := sh.s
	_, _, err := s.policies.Update(ctx, "", up.name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(s.policies.Resource().GroupResource(), up.name)
		}
		p := cur.(*v1.SchedulingPolicy)
		var config []byte
		if p.Spec.Configuration != nil {
			config = p.Spec.Configuration.Raw
		}
		if p.Spec.Module != up.module || !p.Spec.Shadow || cmp.Or(p.Spec.ShadowOf, v1.DefaultShadowOf) != up.shadowOf ||
			!bytes.Equal(config, up.config) {
			return p, nil // another candidate now: these counts are not its
		}
		p.ResourceVersion = ""
		if p.Status.Shadow == nil {
			p.Status.Shadow = &v1.ShadowStatus{}
		}
		addShadow(p.Status.Shadow, d)
		return p, nil
	}, registry.UpdateOptions{Subresource: "status", FieldManager: s.cfg.Name})
	return err
}
