// Package nodelifecycle hosts the node lifecycle controller: it watches Nodes, their Leases,
// the pods bound to them and Serf's view of the members, and asks a policy module (the
// built-in one is wasm/policies/nodelifecycle) what becomes of each Node and its pods: when a
// node is lost, its conditions, its taints, its pods' readiness and their eviction. It performs
// what the policy answers, within what it allows: the Node reconciled (spec and status), and
// the status and deletion of the pods bound to it.
//
// It runs on the raft leader, one instance per leadership term, like the other controllers.
// Serf notices a dead member within seconds, where a missed Lease takes the grace period; the
// policy weighs both (see its package).
package nodelifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/control/controllers"
	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/membership"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/wasm/abi"
	policy "github.com/skiff-sh/skiff/wasm/policies/nodelifecycle"
)

// component names the controller in events and managed fields.
const component = "node-lifecycle-controller"

// nodeNameIndex indexes pods by spec.nodeName.
const nodeNameIndex = "skiff.dev/node-name"

// Config configures the controller.
type Config struct {
	// Policy decides (controllers.NodeLifecycleModule of the built-in policies).
	Policy controllers.Reconciler
	// GracePeriod is how long a node may go without renewing its Lease.
	GracePeriod time.Duration
	// Members lists Serf's members; nil runs on Leases alone.
	Members func() []membership.Member
	// MembersChanged, if set, is signalled when a member's status may have changed; Members
	// is also read every MemberPoll.
	MembersChanged <-chan struct{}
	MemberPoll     time.Duration
	// Informers, if set, is the leadership term's shared factory; if nil, Run makes its own.
	Informers *informer.Factory
	// Now is the clock handed to the policy (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultConfig is the built-in grace period and a one-second member poll.
func DefaultConfig() Config {
	return Config{GracePeriod: policy.DefaultGracePeriod, MemberPoll: time.Second, Now: time.Now}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Policy == nil:
		return errors.New("nodelifecycle: Policy is required")
	case c.GracePeriod <= 0:
		return fmt.Errorf("nodelifecycle: grace period %v must be positive", c.GracePeriod)
	case c.MemberPoll <= 0:
		return fmt.Errorf("nodelifecycle: member poll %v must be positive", c.MemberPoll)
	}
	return nil
}

// Controller is the node lifecycle controller of one registry.
type Controller struct {
	reg                  *registry.Registry
	cfg                  Config
	log                  *slog.Logger
	nodes, pods, leases  *registry.Store
	events               *registry.Store
	config               json.RawMessage
	nodeInf, podInf      cache.SharedIndexInformer
	leaseInf             cache.SharedIndexInformer
	queue                workqueue.TypedRateLimitingInterface[string]
	membersMu            sync.Mutex
	members              map[string]membership.Member // by node name
	nodeEvents, podEvent controllers.EventRecorder
}

// New returns the controller of reg's Nodes.
func New(reg *registry.Registry, cfg Config) (*Controller, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MemberPoll == 0 {
		cfg.MemberPoll = time.Second
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{
		reg: reg, cfg: cfg, log: log,
		nodes:   reg.Store(corev1.SchemeGroupVersion.WithResource("nodes")),
		pods:    reg.Store(corev1.SchemeGroupVersion.WithResource("pods")),
		leases:  reg.Store(coordinationv1.SchemeGroupVersion.WithResource("leases")),
		events:  reg.Store(corev1.SchemeGroupVersion.WithResource("events")),
		members: map[string]membership.Member{},
	}
	if c.nodes == nil || c.pods == nil || c.leases == nil {
		return nil, errors.New("nodelifecycle: the registry must serve nodes, pods and leases")
	}
	b, err := json.Marshal(policy.Config{GracePeriodMillis: cfg.GracePeriod.Milliseconds()})
	if err != nil {
		return nil, fmt.Errorf("nodelifecycle: config: %w", err)
	}
	c.config = b
	c.nodeEvents = controllers.EventRecorder{Events: c.events, Kind: c.nodes.Resource().Kind, Component: component, Now: cfg.Now, Log: log}
	c.podEvent = controllers.EventRecorder{Events: c.events, Kind: c.pods.Resource().Kind, Component: component, Now: cfg.Now, Log: log}
	return c, nil
}

// Run reconciles until ctx ends (one leadership term), then returns nil once its workers
// have stopped.
func (c *Controller) Run(ctx context.Context) error {
	f := c.cfg.Informers
	if f == nil {
		f = informer.NewFactory(c.reg, 0, c.log)
		defer f.Shutdown()
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 10*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodelifecycle"})
	defer c.queue.ShutDown()
	c.nodeInf, c.podInf, c.leaseInf = f.ForStore(c.nodes), f.ForStore(c.pods), f.ForStore(c.leases)
	if _, ok := c.podInf.GetIndexer().GetIndexers()[nodeNameIndex]; !ok {
		err := c.podInf.AddIndexers(cache.Indexers{nodeNameIndex: func(obj any) ([]string, error) {
			if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
				return []string{p.Spec.NodeName}, nil
			}
			return nil, nil
		}})
		if err != nil {
			if _, ok := c.podInf.GetIndexer().GetIndexers()[nodeNameIndex]; !ok {
				return fmt.Errorf("nodelifecycle: index pods by node: %w", err)
			}
		}
	}
	var synced []cache.InformerSynced
	for _, h := range []struct {
		inf cache.SharedIndexInformer
		fn  func(any)
	}{
		{c.nodeInf, c.nodeChanged}, {c.leaseInf, c.leaseChanged}, {c.podInf, c.podChanged},
	} {
		fn := h.fn
		reg, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: fn, UpdateFunc: func(_, obj any) { fn(obj) }, DeleteFunc: fn,
		})
		if err != nil {
			return fmt.Errorf("nodelifecycle: watch: %w", err)
		}
		defer h.inf.RemoveEventHandler(reg) //nolint:errcheck // the informer outlives the term only to be shut down
		synced = append(synced, reg.HasSynced)
	}
	f.Start(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil
	}
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	var wg sync.WaitGroup
	if c.cfg.Members != nil {
		c.refreshMembers()
		wg.Go(func() { c.watchMembers(ctx) })
	}
	for range 2 {
		wg.Go(func() { c.work(ctx) })
	}
	wg.Wait()
	return nil
}

func metaOf(obj any) metav1.Object {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return m
}

func (c *Controller) nodeChanged(obj any) {
	if m := metaOf(obj); m != nil {
		c.queue.Add(m.GetName())
	}
}

func (c *Controller) leaseChanged(obj any) {
	if m := metaOf(obj); m != nil && m.GetNamespace() == corev1.NamespaceNodeLease {
		c.queue.Add(m.GetName())
	}
}

// podChanged queues the pod's node when the node is gone or not healthy: only then has the
// policy anything to say about its pods.
func (c *Controller) podChanged(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.NodeName == "" {
		return
	}
	n, exists, err := c.nodeInf.GetStore().GetByKey(p.Spec.NodeName)
	if err != nil {
		return
	}
	if !exists || !healthy(n.(*corev1.Node)) {
		c.queue.Add(p.Spec.NodeName)
	}
}

// healthy is a node that is Ready and carries none of the lifecycle taints.
func healthy(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == policy.TaintUnreachable || t.Key == policy.TaintNotReady {
			return false
		}
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// watchMembers queues the nodes whose member changed status.
func (c *Controller) watchMembers(ctx context.Context) {
	t := time.NewTicker(c.cfg.MemberPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.cfg.MembersChanged:
		case <-t.C:
		}
		for _, name := range c.refreshMembers() {
			c.queue.Add(name)
		}
	}
}

// refreshMembers reads Serf's members and returns the nodes whose status changed.
func (c *Controller) refreshMembers() []string {
	now := map[string]membership.Member{}
	for _, m := range c.cfg.Members() {
		if node := m.Tags[membership.TagNodeName]; node != "" {
			now[node] = m
		}
	}
	c.membersMu.Lock()
	defer c.membersMu.Unlock()
	var changed []string
	for node, m := range now {
		if old, ok := c.members[node]; !ok || old.Status != m.Status {
			changed = append(changed, node)
		}
	}
	for node := range c.members {
		if _, ok := now[node]; !ok {
			changed = append(changed, node)
		}
	}
	c.members = now
	return changed
}

func (c *Controller) facts(node string) map[string]string {
	c.membersMu.Lock()
	defer c.membersMu.Unlock()
	m, ok := c.members[node]
	if !ok {
		return nil
	}
	f := map[string]string{policy.FactMemberStatus: string(m.Status)}
	if !m.Since.IsZero() {
		f[policy.FactMemberSince] = strconv.FormatInt(m.Since.UnixMilli(), 10)
	}
	return f
}

func (c *Controller) work(ctx context.Context) {
	for {
		name, quit := c.queue.Get()
		if quit {
			return
		}
		requeue, err := c.reconcile(ctx, name)
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.Warn("node lifecycle: reconcile", "node", name, "err", err)
			c.queue.AddRateLimited(name)
		case requeue > 0:
			c.queue.Forget(name)
			c.queue.AddAfter(name, requeue)
		default:
			c.queue.Forget(name)
		}
		c.queue.Done(name)
	}
}

// encode is obj as the API serves it (with the apiVersion and kind of s), without its
// managedFields.
func encode(s *registry.Store, obj runtime.Object) (json.RawMessage, error) {
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(s.Resource().Kind)
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil) // unread by the policy, and a status write without them keeps them
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", s.Resource().GroupResource(), err)
	}
	return b, nil
}

// reconcile asks the policy about one node and performs its answer.
func (c *Controller) reconcile(ctx context.Context, name string) (time.Duration, error) {
	req := &abi.ReconcileRequest{Key: name, Facts: c.facts(name), Config: c.config, NowMillis: c.cfg.Now().UnixMilli()}
	obj, exists, err := c.nodeInf.GetStore().GetByKey(name)
	if err != nil {
		return 0, err
	}
	var node *corev1.Node
	if exists {
		node = obj.(*corev1.Node)
		if req.Object, err = encode(c.nodes, node); err != nil {
			return 0, err
		}
	}
	pods, err := c.podInf.GetIndexer().ByIndex(nodeNameIndex, name)
	if err != nil {
		return 0, err
	}
	if node != nil && healthy(node) {
		// A healthy node's pods need nothing: the policy sees them once the node is not
		// (its own write to the node brings it back here at once). Renewals of a node's
		// Lease, every 10 s, then cost no pod encoding.
		pods = nil
	}
	bound := map[types.UID]*corev1.Pod{}
	for _, o := range pods {
		p := o.(*corev1.Pod)
		bound[p.UID] = p
		b, err := encode(c.pods, p)
		if err != nil {
			return 0, err
		}
		req.Owned = append(req.Owned, b)
	}
	if !exists && len(pods) == 0 {
		return 0, nil
	}
	if l, ok, _ := c.leaseInf.GetStore().GetByKey(corev1.NamespaceNodeLease + "/" + name); ok {
		b, err := encode(c.leases, l.(*coordinationv1.Lease))
		if err != nil {
			return 0, err
		}
		req.Related = append(req.Related, b)
	}
	callCtx, cancel := context.WithTimeout(ctx, controllers.ReconcileDeadline)
	res, err := c.cfg.Policy.Reconcile(callCtx, req)
	cancel()
	if err != nil {
		if node != nil {
			c.nodeEvents.Record(ctx, node, corev1.EventTypeWarning, "PolicyFailed", fmt.Sprintf("the %s policy failed: %v", controllers.NodeLifecycleModule, err))
		}
		return 0, fmt.Errorf("policy: %w", err)
	}
	if res.Error != "" {
		return 0, fmt.Errorf("policy: %s", res.Error)
	}
	if err := c.apply(ctx, node, bound, res); err != nil {
		return 0, err
	}
	return time.Duration(res.RequeueAfterMillis) * time.Millisecond, nil
}

// header is what apply reads of an action's object.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Namespace       string    `json:"namespace"`
		Name            string    `json:"name"`
		UID             types.UID `json:"uid"`
		ResourceVersion string    `json:"resourceVersion"`
	} `json:"metadata"`
}

// apply performs the actions in order, stopping at the first failure, and records the events.
func (c *Controller) apply(ctx context.Context, node *corev1.Node, bound map[types.UID]*corev1.Pod, res *abi.ReconcileResult) error {
	written := map[types.UID]string{} // resourceVersion each object was last written at
	done := make([]runtime.Object, len(res.Actions))
	var failed error
	for i, a := range res.Actions {
		target, err := c.applyOne(ctx, node, bound, a, written)
		if err != nil {
			failed = fmt.Errorf("action %d (%s): %w", i, a.Verb, err)
			if node != nil {
				c.nodeEvents.Record(ctx, node, corev1.EventTypeWarning, "Failed"+a.Verb, failed.Error())
			}
			break
		}
		done[i] = target
	}
	for _, ev := range res.Events {
		var about runtime.Object = node
		if ev.Action != nil {
			i := *ev.Action
			if i < 0 || i >= len(done) || done[i] == nil {
				continue
			}
			about = done[i]
		}
		if about == nil {
			continue
		}
		if _, isPod := about.(*corev1.Pod); isPod {
			c.podEvent.Record(ctx, about, ev.Type, ev.Reason, ev.Message)
		} else {
			c.nodeEvents.Record(ctx, about, ev.Type, ev.Reason, ev.Message)
		}
	}
	return failed
}

// applyOne performs one action on the node or one of its pods; it returns the object the
// action was about.
func (c *Controller) applyOne(ctx context.Context, node *corev1.Node, bound map[types.UID]*corev1.Pod, a abi.Action, written map[types.UID]string) (runtime.Object, error) {
	var h header
	if err := json.Unmarshal(a.Object, &h); err != nil {
		return nil, fmt.Errorf("decode action object: %w", err)
	}
	gvk := schema.FromAPIVersionAndKind(h.APIVersion, h.Kind)
	switch gvk {
	case c.nodes.Resource().Kind:
		if node == nil || h.Metadata.Name != node.Name || (h.Metadata.UID != "" && h.Metadata.UID != node.UID) {
			return nil, fmt.Errorf("%w: the node lifecycle policy may only change the node it reconciles", controllers.ErrForbidden)
		}
		if a.Verb != abi.VerbUpdate && a.Verb != abi.VerbUpdateStatus {
			return nil, fmt.Errorf("%w: %s of a node", controllers.ErrForbidden, a.Verb)
		}
		n := &corev1.Node{}
		if err := json.Unmarshal(a.Object, n); err != nil {
			return nil, fmt.Errorf("decode node: %w", err)
		}
		n.UID = node.UID
		return c.update(ctx, c.nodes, "", n, a.Verb, written)
	case c.pods.Resource().Kind:
		p, ok := bound[h.Metadata.UID]
		if !ok || p.Name != h.Metadata.Name || p.Namespace != h.Metadata.Namespace {
			return nil, fmt.Errorf("%w: pod %s/%s is not bound to the node", controllers.ErrForbidden, h.Metadata.Namespace, h.Metadata.Name)
		}
		switch a.Verb {
		case abi.VerbUpdateStatus:
			np := &corev1.Pod{}
			if err := json.Unmarshal(a.Object, np); err != nil {
				return nil, fmt.Errorf("decode pod: %w", err)
			}
			np.UID = p.UID
			return c.update(ctx, c.pods, p.Namespace, np, a.Verb, written)
		case abi.VerbDelete:
			return p, c.deletePod(ctx, node, p)
		}
		return nil, fmt.Errorf("%w: %s of a pod", controllers.ErrForbidden, a.Verb)
	}
	return nil, fmt.Errorf("%w: the node lifecycle policy may not write %s", controllers.ErrForbidden, gvk)
}

// update writes obj (spec or status), after an earlier write of the same object in the same
// result if there was one.
func (c *Controller) update(ctx context.Context, s *registry.Store, ns string, obj runtime.Object, verb string, written map[types.UID]string) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	if rv, ok := written[m.GetUID()]; ok {
		m.SetResourceVersion(rv)
	}
	opts := registry.UpdateOptions{FieldManager: component}
	if verb == abi.VerbUpdateStatus {
		opts.Subresource = "status"
	}
	out, _, err := s.Update(ctx, ns, m.GetName(), func(runtime.Object) (runtime.Object, error) { return obj.DeepCopyObject(), nil }, opts)
	if err != nil {
		return nil, err
	}
	om, _ := meta.Accessor(out)
	written[om.GetUID()] = om.GetResourceVersion()
	return out, nil
}

// deletePod evicts a pod: gracefully while its node exists (the node stops it and confirms,
// once it is back), at once when the node is gone.
func (c *Controller) deletePod(ctx context.Context, node *corev1.Node, p *corev1.Pod) error {
	opts := &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}}
	if node == nil {
		opts.GracePeriodSeconds = new(int64)
	}
	_, _, err := c.pods.Delete(ctx, p.Namespace, p.Name, opts)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
