package podsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// ReasonSandboxReady is the event a pod gets when its network is wired
// (skiff trace reads it).
const ReasonSandboxReady = "SandboxReady"

// DefaultResync is how often a worker looks again at a pod nothing woke it
// for (the kubelet's is a minute; a missed runtime event costs at most this).
const DefaultResync = 10 * time.Second

// Config is what a Syncer works with.
type Config struct {
	// NodeName is the node whose pods (spec.nodeName) it runs.
	NodeName string
	// NodeIP is the pods' hostIP.
	NodeIP  string
	Client  kubernetes.Interface
	Runtime Runtime
	Network Network
	// LogDir holds the containers' log files (see LogPath).
	LogDir string
	// Recorder, if set, receives the kubelet's events; default: events
	// written through Client as component "kubelet" on NodeName.
	Recorder record.EventRecorder
	Logger   *slog.Logger
	// Resync is how often an idle pod is looked at again; default DefaultResync.
	Resync time.Duration
	// Now is the clock (tests move it); default time.Now.
	Now func() time.Time
	// DrainDelay is how long a deleted pod's containers keep running
	// before their SIGTERM (within the grace period), so that every node's
	// proxy has taken the pod out of its Services first — what Kubernetes
	// users get from a preStop sleep. Default DefaultDrainDelay; negative:
	// none.
	DrainDelay time.Duration
	// Unrouted, if set, waits until this node's proxy sends no new
	// connection to the address (the endpoints controller has taken the
	// pod out and the rules are rewritten); the drain then lasts until
	// that, plus DrainMargin for the other nodes' proxies, instead of
	// DrainDelay.
	Unrouted func(ctx context.Context, podIP string) error
}

// DrainMargin is how much longer than this node's proxy the other nodes'
// proxies may take to drop a deleted pod: they watch the same
// EndpointSlice update.
const DrainMargin = 250 * time.Millisecond

// DefaultDrainDelay covers the endpoints' update reaching every proxy:
// measured in the lab, a few tens of milliseconds.
const DefaultDrainDelay = time.Second

// Validate checks the required fields.
func (c Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("NodeName is required"))
	}
	if c.Client == nil || c.Runtime == nil || c.Network == nil {
		errs = append(errs, errors.New("Client, Runtime and Network are required"))
	}
	if c.LogDir == "" {
		errs = append(errs, errors.New("LogDir is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("podsync: %w", err)
	}
	return nil
}

// LogPath is where the log of a container instance is written:
// <LogDir>/<namespace>_<pod>_<uid>/<container>/<attempt>.log, as the
// kubelet's /var/log/pods.
func LogPath(logDir, namespace, pod, uid, container string, attempt int) string {
	return filepath.Join(logDir, namespace+"_"+pod+"_"+uid, container, fmt.Sprintf("%d.log", attempt))
}

// Syncer runs the pods bound to one node.
type Syncer struct {
	cfg      Config
	log      *slog.Logger
	recorder record.EventRecorder
	backoff  *backoff

	mu      sync.Mutex
	workers map[types.UID]*worker
	// byContainer finds the pod of a container that exited.
	byContainer map[string]types.UID
	wg          sync.WaitGroup
	ctx         context.Context
	stopped     bool
}

// New returns a Syncer; Run starts it.
func New(cfg Config) (*Syncer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DrainDelay == 0 {
		cfg.DrainDelay = DefaultDrainDelay
	}
	s := &Syncer{
		cfg: cfg, log: cfg.Logger, recorder: cfg.Recorder, backoff: newBackoff(),
		workers: map[types.UID]*worker{}, byContainer: map[string]types.UID{},
	}
	return s, nil
}

// Run runs the pods until ctx ends, then stops its workers and returns.
// Stopping leaves the containers running: the next Run adopts them.
func (s *Syncer) Run(ctx context.Context) error {
	if s.recorder == nil {
		b := record.NewBroadcaster(record.WithContext(ctx))
		b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.cfg.Client.CoreV1().Events("")})
		defer b.Shutdown()
		s.recorder = b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: s.cfg.NodeName})
	}
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()

	factory := informers.NewSharedInformerFactoryWithOptions(s.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", s.cfg.NodeName).String()
		}))
	pods := factory.Core().V1().Pods().Informer()
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.podChanged(obj) },
		UpdateFunc: func(_, obj any) { s.podChanged(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				s.podGone(p.UID)
			}
		},
	}); err != nil {
		return fmt.Errorf("podsync: watch pods: %w", err)
	}
	// Adopt what runs before the informer's events start workers, so a
	// worker's first sync sees the containers it already has.
	running, err := s.cfg.Runtime.ListContainers(ctx, "")
	if err != nil {
		return fmt.Errorf("podsync: list containers to adopt: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced) {
		s.stopWorkers()
		return nil
	}
	// Containers and networks of pods the API no longer has are ended.
	known := map[string]bool{}
	for _, obj := range pods.GetStore().List() {
		known[string(obj.(*corev1.Pod).UID)] = true
	}
	orphans := map[string]bool{}
	for _, c := range running {
		if !known[c.PodUID] {
			orphans[c.PodUID] = true
		}
	}
	if attached, err := s.cfg.Network.Attached(ctx); err != nil {
		s.log.Error("list pod networks", "err", err)
	} else {
		for _, uid := range attached {
			if !known[uid] {
				orphans[uid] = true
			}
		}
	}
	for uid := range orphans {
		s.log.Info("cleaning up a pod the API no longer has", "uid", uid)
		s.podGone(types.UID(uid))
	}
	s.log.Info("pod sync started", "node", s.cfg.NodeName, "pods", len(known), "adopted containers", len(running))
	<-ctx.Done()
	s.stopWorkers()
	return nil
}

// podChanged hands a pod's latest state to its worker, starting one.
func (s *Syncer) podChanged(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.NodeName != s.cfg.NodeName {
		return
	}
	s.worker(p.UID).update(p)
}

// podGone tells the pod's worker that the API no longer has the pod.
func (s *Syncer) podGone(uid types.UID) { s.worker(uid).update(nil) }

// ContainerExited wakes the worker of the pod that ran the container (the
// daemon calls it on the runtime's exit events).
func (s *Syncer) ContainerExited(containerID string) {
	s.mu.Lock()
	uid, ok := s.byContainer[containerID]
	w := s.workers[uid]
	s.mu.Unlock()
	if ok && w != nil {
		w.kick()
	}
}

// worker returns uid's worker, starting it if needed.
func (s *Syncer) worker(uid types.UID) *worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.workers[uid]; ok {
		return w
	}
	w := newWorker(s, uid)
	if s.stopped {
		return w // never run: the syncer is stopping
	}
	s.workers[uid] = w
	ctx := s.ctx
	s.wg.Go(func() {
		w.run(ctx)
		s.mu.Lock()
		if s.workers[uid] == w {
			delete(s.workers, uid)
		}
		for id, u := range s.byContainer {
			if u == uid {
				delete(s.byContainer, id)
			}
		}
		s.mu.Unlock()
	})
	return w
}

// trackContainers records which containers belong to uid.
func (s *Syncer) trackContainers(uid types.UID, cs []Container) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		s.byContainer[c.ID] = uid
	}
}

func (s *Syncer) stopWorkers() {
	s.mu.Lock()
	s.stopped = true
	for _, w := range s.workers {
		w.stop()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
