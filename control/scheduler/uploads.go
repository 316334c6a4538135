package scheduler

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	wasmrt "github.com/skiff-sh/skiff/wasm/runtime"
)

var policiesGVR = v1.SchemeGroupVersion.WithResource("schedulingpolicies")

// retryLoadAfter is how long a module that failed to load is not tried again: the pods of its
// policy retry with backoff, and each would otherwise compile it again.
const retryLoadAfter = 5 * time.Second

// served is a policy and the texts of its own reason bits.
type served struct {
	policy  Policy
	reasons map[int]string
}

// uploads are the SchedulingPolicies a scheduler serves, each loaded on first use into one wasm
// host with the limits for untrusted modules.
type uploads struct {
	s    *Scheduler
	host *wasmrt.Host

	mu     sync.Mutex
	byName map[string]*upload
	// told are the pods told that their scheduler does not exist.
	told map[types.UID]bool
	// pods is the scheduler's pod cache, once it has one.
	pods cache.Indexer
	// shadows indexes the shadow policies by the scheduler they run beside, rebuilt on every
	// change of byName, read without the lock on the hot path.
	shadows atomic.Pointer[map[string][]*upload]
}

// setPods hands over the pod cache and queues the pods of the policies seen so far.
func (u *uploads) setPods(pods cache.Indexer) {
	u.mu.Lock()
	u.pods = pods
	u.mu.Unlock()
}

// upload is one policy's module, as its spec names it.
type upload struct {
	name, module string
	config       []byte
	generation   int64
	// shadowOf is the scheduler a shadow policy runs beside; "" for a policy that places pods.
	shadowOf string
	// stats are a shadow policy's counts not yet written to its status.
	stats shadowStats

	mu       sync.Mutex // serialises loading
	loaded   *wasmrt.Module
	err      error
	failedAt time.Time
	// quarantined remembers that the Loaded condition says so.
	quarantined bool
}

func (u *uploads) has(name string) bool {
	if u == nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	up := u.byName[name]
	return up != nil && up.shadowOf == ""
}

// shadowsOf returns the shadow policies that run beside scheduler; the slice is not modified.
func (u *uploads) shadowsOf(scheduler string) []*upload {
	if u == nil {
		return nil
	}
	if idx := u.shadows.Load(); idx != nil {
		return (*idx)[scheduler]
	}
	return nil
}

// reindex rebuilds the shadow index; u.mu is held.
func (u *uploads) reindex() {
	idx := map[string][]*upload{}
	for _, up := range u.byName {
		if up.shadowOf != "" {
			idx[up.shadowOf] = append(idx[up.shadowOf], up)
		}
	}
	u.shadows.Store(&idx)
}

func (u *uploads) forgetPod(uid types.UID) {
	if u == nil {
		return
	}
	u.mu.Lock()
	delete(u.told, uid)
	u.mu.Unlock()
}

// startUploads starts the wasm host of the uploads and watches the SchedulingPolicies until their
// cache has synced. It returns nil uploads if ctx ended first; stop closes the host.
func (s *Scheduler) startUploads(ctx context.Context, f *informer.Factory) (*uploads, func(), error) {
	host, err := wasmrt.New(context.WithoutCancel(ctx), s.cfg.UploadRuntime)
	if err != nil {
		return nil, nil, fmt.Errorf("scheduler: uploads: wasm runtime: %w", err)
	}
	up := &uploads{s: s, host: host, byName: map[string]*upload{}, told: map[types.UID]bool{}}
	s.up = up
	inf := f.ForStore(s.policies)
	h, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { up.set(obj) },
		UpdateFunc: func(_, obj any) { up.set(obj) },
		DeleteFunc: up.remove,
	})
	if err != nil {
		host.Close(context.WithoutCancel(ctx))
		return nil, nil, fmt.Errorf("scheduler: watch schedulingpolicies: %w", err)
	}
	stop := func() {
		_ = inf.RemoveEventHandler(h)
		host.Close(context.WithoutCancel(ctx))
	}
	f.Start(ctx)
	if !cache.WaitFor(ctx, "", h.HasSyncedChecker()) {
		return nil, stop, nil
	}
	return up, stop, nil
}

// set takes a policy's spec; a new module or configuration replaces the loaded one at once, and
// the pods waiting for the policy's name are queued.
func (u *uploads) set(obj any) {
	p, ok := obj.(*v1.SchedulingPolicy)
	if !ok {
		return
	}
	var config []byte
	if p.Spec.Configuration != nil {
		config = p.Spec.Configuration.Raw
	}
	var shadowOf string
	if p.Spec.Shadow {
		shadowOf = cmp.Or(p.Spec.ShadowOf, v1.DefaultShadowOf)
	}
	u.mu.Lock()
	old := u.byName[p.Name]
	if old != nil && old.module == p.Spec.Module && bytes.Equal(old.config, config) && old.shadowOf == shadowOf {
		u.mu.Unlock()
		return
	}
	u.byName[p.Name] = &upload{name: p.Name, module: p.Spec.Module, config: config, generation: p.Generation, shadowOf: shadowOf}
	u.reindex()
	u.mu.Unlock()
	if old != nil {
		old.close()
	}
	if shadowOf != "" {
		u.s.log.Info("scheduler: running scheduling policy as a shadow", "policy", p.Name, "shadowOf", shadowOf, "module", p.Spec.Module)
		if old != nil && old.shadowOf == "" {
			// Its pending pods now name a policy that places none.
			for _, pod := range u.podsNamed(p.Name) {
				u.s.noScheduler(pod)
			}
		}
		return
	}
	u.s.log.Info("scheduler: serving scheduling policy", "scheduler", p.Name, "module", p.Spec.Module)
	u.requeue(p.Name)
}

func (u *uploads) remove(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*v1.SchedulingPolicy)
	if !ok {
		return
	}
	u.mu.Lock()
	old := u.byName[p.Name]
	delete(u.byName, p.Name)
	u.reindex()
	u.mu.Unlock()
	if old != nil {
		old.close()
	}
	// Its pending pods now name a scheduler that does not exist.
	for _, pod := range u.podsNamed(p.Name) {
		u.s.noScheduler(pod)
	}
}

// requeue queues the pending pods that name scheduler, and forgets that they were told it
// did not exist.
func (u *uploads) requeue(scheduler string) {
	for _, pod := range u.podsNamed(scheduler) {
		u.forgetPod(pod.UID)
		u.s.queue.Add(podKey(pod))
	}
}

func (u *uploads) podsNamed(scheduler string) []*corev1.Pod {
	u.mu.Lock()
	pods := u.pods
	u.mu.Unlock()
	if pods == nil {
		return nil // before the pod cache: its handlers will queue the pods
	}
	var out []*corev1.Pod
	for _, obj := range pods.List() {
		if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.SchedulerName == scheduler && unscheduled(pod) {
			out = append(out, pod)
		}
	}
	return out
}

func (up *upload) close() {
	up.mu.Lock()
	m := up.loaded
	up.loaded = nil
	up.mu.Unlock()
	if m != nil {
		// Calls in flight finish; later ones fail with ErrClosed and their pods retry.
		_ = m.Close(context.Background())
	}
}

// NoSchedulerMessage is the FailedScheduling event of a pod naming an unknown scheduler.
func NoSchedulerMessage(name string) string {
	return fmt.Sprintf("no scheduler named %q: create a SchedulingPolicy named %q or use %s", name, name, DefaultSchedulerName)
}

// ShadowOnlyMessage is the FailedScheduling event of a pod naming a shadow policy.
func ShadowOnlyMessage(name, shadowOf string) string {
	return fmt.Sprintf("scheduling policy %q is a shadow of %s and places no pods: use %s, or set the policy's spec.shadow to false", name, shadowOf, shadowOf)
}

// noScheduler tells a pod, once, that no scheduler of its name exists.
func (s *Scheduler) noScheduler(pod *corev1.Pod) {
	u := s.up
	u.mu.Lock()
	up := u.byName[pod.Spec.SchedulerName]
	if u.told[pod.UID] || (up != nil && up.shadowOf == "") {
		u.mu.Unlock()
		return
	}
	u.told[pod.UID] = true
	u.mu.Unlock()
	msg := NoSchedulerMessage(pod.Spec.SchedulerName)
	if up != nil {
		msg = ShadowOnlyMessage(up.name, up.shadowOf)
	}
	s.rec.event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
}

// policyFor returns the policy serving scheduler: the built-in one or an upload, loaded now if
// it is not yet.
func (s *Scheduler) policyFor(ctx context.Context, scheduler string) (served, error) {
	if scheduler == s.cfg.Name || s.up == nil {
		return served{s.cfg.Policy, s.cfg.ReasonTexts}, nil
	}
	s.up.mu.Lock()
	up := s.up.byName[scheduler]
	s.up.mu.Unlock()
	if up == nil {
		return served{}, errors.New(NoSchedulerMessage(scheduler))
	}
	if up.shadowOf != "" {
		return served{}, errors.New(ShadowOnlyMessage(up.name, up.shadowOf))
	}
	m, err := s.up.load(ctx, up)
	if err != nil {
		return served{}, err
	}
	return served{m, m.Info().Reasons}, nil
}

// load returns the policy's module, loading it from the store on first use.
func (u *uploads) load(ctx context.Context, up *upload) (*wasmrt.Module, error) {
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.loaded != nil {
		return up.loaded, nil
	}
	if up.err != nil && time.Since(up.failedAt) < retryLoadAfter {
		return nil, up.err
	}
	m, err := u.loadModule(ctx, up)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		up.err, up.failedAt = fmt.Errorf("loading scheduling policy %q (module %s): %w", up.name, up.module, err), time.Now()
		u.setLoaded(up, metav1.ConditionFalse, "LoadFailed", up.err.Error())
		return nil, up.err
	}
	u.mu.Lock()
	current := u.byName[up.name] == up
	u.mu.Unlock()
	if !current {
		_ = m.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("scheduling policy %q changed while its module loaded", up.name)
	}
	up.loaded, up.err = m, nil
	u.setLoaded(up, metav1.ConditionTrue, "Loaded", fmt.Sprintf("module %s runs with hooks %+v", up.module, m.Hooks()))
	return m, nil
}

func (u *uploads) loadModule(ctx context.Context, up *upload) (*wasmrt.Module, error) {
	wasm, err := resources.ReadModule(ctx, u.s.reg.KV(), up.module)
	if err != nil {
		return nil, err
	}
	m, err := u.host.Load(ctx, up.name+"@"+v1.Short(up.module), wasm, wasmrt.ModuleOptions{Config: up.config})
	if err != nil {
		return nil, err
	}
	if h := m.Hooks(); !h.Filter && !h.Score {
		_ = m.Close(context.WithoutCancel(ctx))
		return nil, errors.New("the module implements neither filter nor score")
	}
	return m, nil
}

// policyFailed words the FailedScheduling event of a failed policy call, and notes a quarantine
// in the policy's Loaded condition.
func (s *Scheduler) policyFailed(scheduler string, err error) string {
	if !errors.Is(err, wasmrt.ErrQuarantined) {
		return fmt.Sprintf("running the scheduling policy: %v", err)
	}
	msg := fmt.Sprintf("scheduling policy %q is quarantined after repeated failures; its pods wait until a trial call succeeds or the policy points at another module: %v", scheduler, err)
	if s.up == nil {
		return msg
	}
	s.up.mu.Lock()
	up := s.up.byName[scheduler]
	s.up.mu.Unlock()
	if up != nil {
		up.mu.Lock()
		first := !up.quarantined
		up.quarantined = true
		up.mu.Unlock()
		if first {
			s.up.setLoaded(up, metav1.ConditionFalse, "Quarantined", msg)
		}
	}
	return msg
}

// setLoaded writes the policy's Loaded condition and observedGeneration, beside the workers.
func (u *uploads) setLoaded(up *upload, status metav1.ConditionStatus, reason, message string) {
	if status == metav1.ConditionTrue {
		up.quarantined = false
	}
	u.s.rec.enqueue(func(ctx context.Context) {
		_, _, err := u.s.policies.Update(ctx, "", up.name, func(cur runtime.Object) (runtime.Object, error) {
			if cur == nil {
				return nil, apierrors.NewNotFound(u.s.policies.Resource().GroupResource(), up.name)
			}
			p := cur.(*v1.SchedulingPolicy)
			if p.Spec.Module != up.module {
				return p, nil // changed meanwhile: the next load reports
			}
			p.ResourceVersion = ""
			p.Status.ObservedGeneration = max(p.Status.ObservedGeneration, up.generation)
			meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: v1.ConditionLoaded, Status: status,
				Reason: reason, Message: message, ObservedGeneration: up.generation})
			return p, nil
		}, registry.UpdateOptions{Subresource: "status", FieldManager: u.s.cfg.Name})
		if err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
			u.s.log.Info("scheduler: policy status not written", "scheduler", up.name, "err", err)
		}
	})
}
