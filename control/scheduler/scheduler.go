package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/scheduler/records"
	"github.com/skiff-sh/skiff/wasm/abi"
	wasmrt "github.com/skiff-sh/skiff/wasm/runtime"
)

// DefaultSchedulerName is the spec.schedulerName of pods the default scheduler places.
const DefaultSchedulerName = corev1.DefaultSchedulerName

// Policy decides one pod: *runtime.Module (a wasm module) and *sdk.NativeScheduler both are.
type Policy interface {
	Schedule(ctx context.Context, in *abi.Input, out *abi.Result) error
}

// Config configures a Scheduler. Policy is required; zero values take the defaults.
type Config struct {
	Policy Policy
	// Name is the spec.schedulerName served (default "default-scheduler"), also the events' source.
	Name string
	// Workers decide pods in parallel (default GOMAXPROCS). Binders caps the attempts in flight,
	// deciding or binding (default 16): a worker takes a pod off the queue only when there is
	// room, so a backlog waits in the queue rather than on the store, and attempt latency is the
	// decision and the binding, as kube-scheduler's scheduling_attempt_duration measures it.
	Workers, Binders int
	// PercentageOfNodesToScore is kube-scheduler's setting: 0 adapts to the cluster's size.
	PercentageOfNodesToScore int
	// InitialBackoff and MaxBackoff bound the retry delay of a pod (defaults 1s and 10s, as
	// kube-scheduler's podInitialBackoffSeconds and podMaxBackoffSeconds).
	InitialBackoff, MaxBackoff time.Duration
	// FlushInterval retries pods that fit nowhere even when nothing changed (default 60s).
	FlushInterval time.Duration
	// ReasonTexts are the texts of the policy's own reason bits (16-31), from its abi.Info.
	ReasonTexts map[int]string
	// NoScheduledEvents skips the Normal "Scheduled" event of each binding.
	NoScheduledEvents bool
	// UnschedulableCondition also writes PodScheduled=False (reason Unschedulable, the event's
	// message) into the status of a pod that fits nowhere, as kube-scheduler does. Off by
	// default for now: control/server's informer test counts every write to its pods.
	UnschedulableCondition bool
	// Informers, if set, is the factory of the run (leadership term) to share informers with
	// other controllers; Run starts what it asks for, its owner shuts it down. If nil, Run makes
	// its own.
	Informers *informer.Factory
	// Observe, if set, is called after every attempt (from several goroutines).
	Observe func(Attempt)
	// Ready, if set, is called once the caches are synced and the workers start.
	Ready func()
	// Uploads serves the SchedulingPolicies (skiff.dev/v1alpha1) beside Name: each policy is a
	// scheduler named as the policy, running its uploaded module (read from the store, so every
	// leader runs the same bytes) with UploadRuntime's limits. A pod naming neither Name nor a
	// policy gets one FailedScheduling event and waits until such a policy appears.
	Uploads bool
	// UploadRuntime configures the wasm runtime of uploaded modules (zero: the runtime's
	// defaults). NoInterrupt is always off for uploads.
	UploadRuntime wasmrt.Config
	// ShadowQueue bounds the pods waiting for the shadow policies (spec.shadow; default 1024):
	// beyond it a pod is dropped and counted, so shadows never slow the scheduler.
	ShadowQueue int
	// ShadowStatusInterval is how often the shadow policies' counts are written to their
	// status (default 5s).
	ShadowStatusInterval time.Duration
	// ObserveShadow, if set, is called after every shadow decision (from the shadow worker, or
	// a scheduling worker for a dropped pod): the hook for metrics.
	ObserveShadow func(ShadowDecision)
	Logger        *slog.Logger
}

// Attempt is the outcome of one scheduling attempt of one pod.
type Attempt struct {
	Pod  string // namespace/name
	Node string // where it was bound, "" if it was not
	// Result is "scheduled", "unschedulable" (no node fits), "error" (policy or bind failure) or
	// "skipped" (bound or gone meanwhile).
	Result string
	Err    error
	// Decision is the time in the policy and the commit; Latency runs from the attempt's start
	// to the end of its binding.
	Decision, Latency time.Duration
}

// Scheduler places pending pods; Run it on the leader.
type Scheduler struct {
	reg    *registry.Registry
	pods   *registry.Store
	nodes  *registry.Store
	events *registry.Store
	cfg    Config
	log    *slog.Logger

	strs   *records.Interner
	owners *records.Interner
	snap   *snapshot
	next   atomic.Uint64 // where the next decision's window of nodes starts

	podIndexer cache.Indexer
	queue      workqueue.TypedRateLimitingInterface[string]
	parkedMu   sync.Mutex
	parked     map[string]bool // pods that fit nowhere, waiting for the cluster to change
	rec        *recorder
	// up holds the uploaded policies (nil unless Config.Uploads).
	up       *uploads
	policies *registry.Store
	// shadow runs the shadow policies (nil unless Config.Uploads).
	shadow *shadower
}

// New returns a scheduler over reg.
func New(reg *registry.Registry, cfg Config) (*Scheduler, error) {
	if cfg.Policy == nil {
		return nil, errors.New("scheduler: no policy")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultSchedulerName
	}
	if cfg.Workers <= 0 {
		cfg.Workers = goruntime.GOMAXPROCS(0)
	}
	if cfg.Binders <= 0 {
		cfg.Binders = 16
	}
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.InitialBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.InitialBackoff)
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShadowQueue <= 0 {
		cfg.ShadowQueue = 1024
	}
	if cfg.ShadowStatusInterval <= 0 {
		cfg.ShadowStatusInterval = 5 * time.Second
	}
	s := &Scheduler{reg: reg, cfg: cfg, log: cfg.Logger,
		pods:   reg.Store(corev1.SchemeGroupVersion.WithResource("pods")),
		nodes:  reg.Store(corev1.SchemeGroupVersion.WithResource("nodes")),
		events: reg.Store(corev1.SchemeGroupVersion.WithResource("events")),
	}
	if s.pods == nil || s.nodes == nil || s.events == nil {
		return nil, errors.New("scheduler: the registry does not serve pods, nodes and events")
	}
	if cfg.Uploads {
		s.policies = reg.Store(policiesGVR)
		if s.policies == nil {
			return nil, errors.New("scheduler: uploads: the registry does not serve schedulingpolicies")
		}
		if s.cfg.UploadRuntime.MemoryLimit == 0 {
			s.cfg.UploadRuntime = wasmrt.DefaultConfig()
		}
		s.cfg.UploadRuntime.NoInterrupt = false
		if s.cfg.UploadRuntime.Logger == nil {
			s.cfg.UploadRuntime.Logger = cfg.Logger
		}
		if err := s.cfg.UploadRuntime.Validate(); err != nil {
			return nil, fmt.Errorf("scheduler: uploads: %w", err)
		}
	}
	return s, nil
}

// Run schedules until ctx ends, then returns nil once its goroutines have stopped. Every Run
// starts from the informers' lists: nothing is carried over from an earlier leadership term.
func (s *Scheduler) Run(ctx context.Context) error {
	s.strs, s.owners, s.snap = records.NewInterner(), records.NewInterner(), newSnapshot()
	s.parked = map[string]bool{}
	s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](s.cfg.InitialBackoff, s.cfg.MaxBackoff),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "scheduler"})
	f := s.cfg.Informers
	if f == nil {
		f = informer.NewFactory(s.reg, 0, s.log)
		defer f.Shutdown()
	}
	// The uploads' wasm host closes after every worker has stopped.
	stopUploads := func() {}
	defer func() { stopUploads() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer s.queue.ShutDown()
	s.rec = newRecorder(s, 4096)
	wg.Go(func() { s.rec.run(ctx) })
	if s.cfg.Uploads {
		// The policies are known before the first pod is seen, so no pod of an existing policy
		// is told that its scheduler does not exist.
		up, stop, err := s.startUploads(ctx, f)
		if err != nil {
			return err
		}
		stopUploads = stop
		if up == nil {
			return nil
		}
		s.shadow = newShadower(s)
		wg.Go(func() { s.shadow.run(ctx) })
	}

	podInf, nodeInf := f.ForStore(s.pods), f.ForStore(s.nodes)
	nh, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.onNode(obj) },
		UpdateFunc: func(_, obj any) { s.onNode(obj) },
		DeleteFunc: s.onNodeDelete,
	})
	if err != nil {
		return fmt.Errorf("scheduler: watch nodes: %w", err)
	}
	defer func() { _ = nodeInf.RemoveEventHandler(nh) }()
	ph, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.onPod(nil, obj) },
		UpdateFunc: s.onPod,
		DeleteFunc: s.onPodDelete,
	})
	if err != nil {
		return fmt.Errorf("scheduler: watch pods: %w", err)
	}
	defer func() { _ = podInf.RemoveEventHandler(ph) }()
	s.podIndexer = podInf.GetIndexer()
	if s.up != nil {
		s.up.setPods(s.podIndexer)
	}
	f.Start(ctx)
	if !cache.WaitFor(ctx, "", nh.HasSyncedChecker(), ph.HasSyncedChecker()) {
		return nil
	}
	s.snap.mu.RLock()
	s.log.Info("scheduler: caches synced", "nodes", len(s.snap.list), "boundPods", len(s.snap.pods), "pending", s.queue.Len())
	s.snap.mu.RUnlock()
	if s.cfg.Ready != nil {
		s.cfg.Ready()
	}
	binders := make(chan struct{}, max(s.cfg.Binders, s.cfg.Workers))
	var binds sync.WaitGroup
	defer binds.Wait()
	for i := range s.cfg.Workers {
		wg.Go(func() {
			w := &worker{rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
			for s.scheduleOne(ctx, w, binders, &binds) {
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(s.cfg.FlushInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.unpark()
			}
		}
	})
	<-ctx.Done()
	return nil
}

// pending reports whether the pod waits for this scheduler (its default name or an uploaded
// policy).
func (s *Scheduler) pending(p *corev1.Pod) bool {
	return unscheduled(p) && (p.Spec.SchedulerName == s.cfg.Name || s.up.has(p.Spec.SchedulerName))
}

// unscheduled reports whether the pod waits for some scheduler.
func unscheduled(p *corev1.Pod) bool {
	return p.Spec.NodeName == "" && p.DeletionTimestamp == nil &&
		p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

func terminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

func (s *Scheduler) onPod(oldObj, obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if old, ok := oldObj.(*corev1.Pod); ok && old.UID != p.UID {
		s.forgetPod(old)
	}
	switch {
	case p.Spec.NodeName != "" && !terminated(p):
		cpu, mem := records.PodRequests(&p.Spec)
		s.snap.bound(p.UID, p.Spec.NodeName, cpu, mem, s.owners.ID(records.ControllerUID(&p.ObjectMeta)))
	case p.Spec.NodeName != "":
		if s.snap.removePod(p.UID) {
			s.unpark()
		}
	case s.pending(p):
		key := podKey(p)
		old, _ := oldObj.(*corev1.Pod)
		s.parkedMu.Lock()
		parked := s.parked[key]
		if parked && old != nil && !apiequality.Semantic.DeepEqual(old.Spec, p.Spec) {
			delete(s.parked, key) // the pod changed: it may fit now
			parked = false
		}
		s.parkedMu.Unlock()
		if !parked {
			s.queue.Add(key)
		}
	case s.up != nil && unscheduled(p):
		s.noScheduler(p)
	}
}

func (s *Scheduler) onPodDelete(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if p, ok := obj.(*corev1.Pod); ok {
		s.forgetPod(p)
	}
}

func (s *Scheduler) forgetPod(p *corev1.Pod) {
	s.parkedMu.Lock()
	delete(s.parked, podKey(p))
	s.parkedMu.Unlock()
	s.rec.forget(p.UID)
	s.up.forgetPod(p.UID)
	if s.snap.removePod(p.UID) {
		s.unpark()
	}
}

func (s *Scheduler) onNode(obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	if s.snap.setNode(n.Name, records.Node(n, s.strs)) {
		s.unpark()
	}
}

func (s *Scheduler) onNodeDelete(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if n, ok := obj.(*corev1.Node); ok {
		s.snap.removeNode(n.Name)
	}
}

// park sets aside a pod that fits nowhere until the cluster changes.
func (s *Scheduler) park(key string) {
	s.parkedMu.Lock()
	s.parked[key] = true
	s.parkedMu.Unlock()
}

// unpark retries every parked pod, with its backoff.
func (s *Scheduler) unpark() {
	s.parkedMu.Lock()
	keys := make([]string, 0, len(s.parked))
	for k := range s.parked {
		keys = append(keys, k)
	}
	clear(s.parked)
	s.parkedMu.Unlock()
	for _, k := range keys {
		s.queue.AddRateLimited(k)
	}
}

// scheduleOne makes one attempt; false means the queue has shut down.
func (s *Scheduler) scheduleOne(ctx context.Context, w *worker, binders chan struct{}, binds *sync.WaitGroup) bool {
	select {
	case binders <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	key, shutdown := s.queue.Get()
	if shutdown {
		<-binders
		return false
	}
	start := time.Now()
	a := Attempt{Pod: key}
	done := func() {
		a.Latency = time.Since(start)
		if s.cfg.Observe != nil {
			s.cfg.Observe(a)
		}
		s.queue.Done(key)
		<-binders
	}
	obj, exists, err := s.podIndexer.GetByKey(key)
	pod, _ := obj.(*corev1.Pod)
	if err != nil || !exists || pod == nil || !s.pending(pod) || s.snap.isPlaced(pod.UID) {
		s.queue.Forget(key)
		a.Result = "skipped"
		done()
		return true
	}
	pol, err := s.policyFor(ctx, pod.Spec.SchedulerName)
	if err != nil {
		a.Result, a.Err = "error", err
		if ctx.Err() == nil {
			s.log.Warn("scheduler: no policy to run", "pod", key, "scheduler", pod.Spec.SchedulerName, "err", err)
			s.rec.failed(pod, err.Error(), false)
			s.queue.AddRateLimited(key)
		}
		done()
		return true
	}
	in := newPodInput(pod, s.strs, s.owners)
	shadows := s.up.shadowsOf(pod.Spec.SchedulerName)
	w.capture = len(shadows) > 0
	var node *nodeInfo
	for try := 0; node == nil && try < 3; try++ {
		if err = s.decide(ctx, w, pol, &in); err != nil {
			break
		}
		for node == nil && len(w.cands) > 0 {
			if n := w.best(); s.snap.assume(pod.UID, n, in.CPUMilli, in.MemoryBytes, in.Owner) {
				node = n
			}
		}
	}
	a.Decision = time.Since(start)
	var fit *FitError
	switch {
	case errors.As(err, &fit):
		a.Result, a.Err = "unschedulable", err
		s.park(key)
		s.rec.failed(pod, err.Error(), true)
		done()
		return true
	case err != nil:
		a.Result, a.Err = "error", err
		if ctx.Err() == nil {
			s.log.Warn("scheduler: policy failed", "pod", key, "err", err)
			s.rec.failed(pod, s.policyFailed(pod.Spec.SchedulerName, err), false)
			s.queue.AddRateLimited(key)
		}
		done()
		return true
	case node == nil:
		// Every feasible node filled up before the commit: decide again after a backoff.
		a.Result, a.Err = "error", errors.New("the chosen nodes filled up meanwhile")
		s.queue.AddRateLimited(key)
		done()
		return true
	}
	if w.capture {
		s.shadow.offer(pod, node.name, w, shadows)
	}
	binds.Go(func() {
		a.Node = node.name
		a.Result, a.Err = s.bind(ctx, pod, node.name)
		switch a.Result {
		case "scheduled":
			s.queue.Forget(key)
		case "skipped":
			s.snap.forget(pod.UID)
			s.queue.Forget(key)
		default:
			s.snap.forget(pod.UID)
			if ctx.Err() == nil {
				s.rec.failed(pod, fmt.Sprintf("binding rejected: %v", a.Err), false)
				s.queue.AddRateLimited(key)
			}
		}
		done()
	})
	return true
}
