package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/wasm/abi"
)

// The endpoints controllers' names: event source and field manager of the Endpoints writes,
// field manager of the EndpointSlice writes, and the slices' managed-by label value.
const (
	endpointsComponent = "endpoint-controller"
	slicesComponent    = "endpointslice-controller"
	slicesManagedBy    = "endpointslice-controller.k8s.io"
)

// serviceNameIndex indexes EndpointSlices by "namespace/<kubernetes.io/service-name label>".
const serviceNameIndex = "skiff.dev/service-name"

func sliceServiceKey(obj any) ([]string, error) {
	m := object(obj)
	if m == nil {
		return nil, nil
	}
	if name := m.GetLabels()[discoveryv1.LabelServiceName]; name != "" {
		return []string{key(m.GetNamespace(), name)}, nil
	}
	return nil, nil
}

// endpointsLoop is the endpoints and endpointslice controllers during one Run. Unlike the
// workload loop, what it writes is not found by ownerReference alone: a Service's Endpoints
// share its name (and carry no reference), its slices carry the kubernetes.io/service-name
// label, and its pods are selected, never owned. One reconcile per Service key decides both.
type endpointsLoop struct {
	*Controllers
	policy                            Reconciler
	log                               *slog.Logger
	rec                               EventRecorder
	services, pods, endpoints, slices *registry.Store
	svcInf, podInf, epInf, sliceInf   cache.SharedIndexInformer
	handlers                          []func()
	synced                            []cache.DoneChecker
	queue                             workqueue.TypedRateLimitingInterface[string]
	epSeen, sliceSeen                 atomic.Int64 // highest revisions the handlers have seen
	mu                                sync.Mutex
	expecting                         map[string]*expectation // ownerRev: Endpoints, ownedRev: slices
	// gone are keys whose Service was seen deleted, or whose Endpoints were in the informer's
	// first list (kube's checkLeftoverEndpoints): if the Service is absent when the key is
	// synced, its Endpoints are deleted. Endpoints written for a Service not yet created are
	// otherwise left alone.
	gone map[string]bool
}

func newEndpointsLoop(c *Controllers, f *informer.Factory, events *registry.Store) (*endpointsLoop, error) {
	l := &endpointsLoop{
		Controllers: c, policy: c.policies[EndpointsModule],
		log:       c.log.With("controller", endpointsComponent),
		services:  c.reg.Store(corev1.SchemeGroupVersion.WithResource("services")),
		pods:      c.reg.Store(corev1.SchemeGroupVersion.WithResource("pods")),
		endpoints: c.reg.Store(corev1.SchemeGroupVersion.WithResource("endpoints")),
		slices:    c.reg.Store(discoveryv1.SchemeGroupVersion.WithResource("endpointslices")),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](minRetry, maxRetry),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: EndpointsModule}),
		expecting: map[string]*expectation{},
		gone:      map[string]bool{},
	}
	if l.services == nil || l.pods == nil || l.endpoints == nil || l.slices == nil {
		l.queue.ShutDown()
		return nil, fmt.Errorf("controllers: the registry must serve services, pods, endpoints and endpointslices")
	}
	l.rec = EventRecorder{Events: events, Kind: l.services.Resource().Kind, Component: endpointsComponent, Now: c.Now, Log: l.log}
	l.svcInf = f.ForStore(l.services)
	l.podInf = f.ForStore(l.pods)
	l.epInf = f.ForStore(l.endpoints)
	l.sliceInf = f.ForStore(l.slices)
	if _, ok := l.sliceInf.GetIndexer().GetIndexers()[serviceNameIndex]; !ok {
		if err := l.sliceInf.AddIndexers(cache.Indexers{serviceNameIndex: sliceServiceKey}); err != nil {
			if _, ok := l.sliceInf.GetIndexer().GetIndexers()[serviceNameIndex]; !ok {
				l.queue.ShutDown()
				return nil, fmt.Errorf("controllers: index endpointslices: %w", err)
			}
		}
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) error {
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return fmt.Errorf("controllers: watch: %w", err)
		}
		l.handlers = append(l.handlers, func() { _ = inf.RemoveEventHandler(reg) })
		l.synced = append(l.synced, reg.HasSyncedChecker())
		return nil
	}
	errs := []error{
		add(l.svcInf, cache.ResourceEventHandlerFuncs{
			AddFunc:    l.enqueue,
			UpdateFunc: func(_, obj any) { l.enqueue(obj) },
			DeleteFunc: func(obj any) {
				if m := object(obj); m != nil {
					l.markGone(key(m.GetNamespace(), m.GetName()))
				}
				l.enqueue(obj)
			},
		}),
		add(l.podInf, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { l.podChanged(nil, obj) },
			UpdateFunc: l.podChanged,
			DeleteFunc: func(obj any) { l.podChanged(nil, obj) },
		}),
		add(l.epInf, cache.ResourceEventHandlerDetailedFuncs{
			AddFunc: func(obj any, initial bool) {
				l.seen(&l.epSeen, obj)
				if m := object(obj); m != nil && initial {
					l.markGone(key(m.GetNamespace(), m.GetName()))
				}
				l.enqueue(obj)
			},
			UpdateFunc: func(_, obj any) { l.seen(&l.epSeen, obj); l.enqueue(obj) },
			DeleteFunc: func(obj any) { l.seen(&l.epSeen, obj); l.enqueue(obj) },
		}),
		add(l.sliceInf, cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { l.seen(&l.sliceSeen, obj); l.sliceChanged(obj) },
			UpdateFunc: func(old, obj any) {
				l.seen(&l.sliceSeen, obj)
				l.sliceChanged(old)
				l.sliceChanged(obj)
			},
			DeleteFunc: func(obj any) { l.seen(&l.sliceSeen, obj); l.sliceChanged(obj) },
		}),
	}
	for _, err := range errs {
		if err != nil {
			l.stop()
			return nil, err
		}
	}
	return l, nil
}

func (l *endpointsLoop) stop() {
	for _, h := range l.handlers {
		h()
	}
	l.queue.ShutDown()
}

// run works until ctx ends.
func (l *endpointsLoop) run(ctx context.Context, workers int) {
	defer l.stop()
	if !cache.WaitFor(ctx, endpointsComponent, l.synced...) {
		return
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { l.work(ctx) })
	}
	go func() {
		<-ctx.Done()
		l.queue.ShutDown()
	}()
	wg.Wait()
}

func (l *endpointsLoop) enqueue(obj any) {
	if m := object(obj); m != nil {
		l.queue.Add(key(m.GetNamespace(), m.GetName()))
	}
}

func (l *endpointsLoop) markGone(k string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gone[k] = true
}

func (l *endpointsLoop) takeGone(k string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.gone[k]
	delete(l.gone, k)
	return g
}

// seen records the revision an event handler has reached.
func (l *endpointsLoop) seen(rev *atomic.Int64, obj any) { advance(rev, obj) }

// sliceChanged queues the Service of a slice this controller manages.
func (l *endpointsLoop) sliceChanged(obj any) {
	m := object(obj)
	if m == nil || m.GetLabels()[discoveryv1.LabelManagedBy] != slicesManagedBy {
		return
	}
	if name := m.GetLabels()[discoveryv1.LabelServiceName]; name != "" {
		l.queue.Add(key(m.GetNamespace(), name))
	}
}

// podChanged queues the Services that select the pod, before and after a change that can
// change their endpoints (kube's GetServicesToUpdateOnPodChange, conservatively: the union).
func (l *endpointsLoop) podChanged(old, cur any) {
	pod, _ := podOf(cur)
	if pod == nil {
		return
	}
	prev, _ := podOf(old)
	var sets []map[string]string
	switch {
	case prev == nil:
		sets = append(sets, pod.Labels)
	case prev.ResourceVersion == pod.ResourceVersion:
		return
	default:
		labelsChanged := !maps.Equal(prev.Labels, pod.Labels)
		if !labelsChanged && !podEndpointsChanged(prev, pod) {
			return
		}
		sets = append(sets, pod.Labels)
		if labelsChanged {
			sets = append(sets, prev.Labels)
		}
	}
	for _, k := range l.servicesSelecting(pod.Namespace, sets...) {
		l.queue.Add(k)
	}
}

func podOf(obj any) (*corev1.Pod, bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	p, ok := obj.(*corev1.Pod)
	return p, ok
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podEndpointsChanged reports a change of what a pod's endpoint shows: deletion, readiness,
// phase, addresses, node or hostname.
func podEndpointsChanged(a, b *corev1.Pod) bool {
	return (a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) ||
		podReady(a) != podReady(b) || a.Status.Phase != b.Status.Phase ||
		a.Status.PodIP != b.Status.PodIP || !slices.Equal(a.Status.PodIPs, b.Status.PodIPs) ||
		a.Spec.NodeName != b.Spec.NodeName || a.Spec.Hostname != b.Spec.Hostname || a.Spec.Subdomain != b.Spec.Subdomain
}

// servicesSelecting are the keys of the Services in ns whose selector selects any of the label sets.
func (l *endpointsLoop) servicesSelecting(ns string, sets ...map[string]string) []string {
	objs, err := l.svcInf.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	if err != nil {
		return nil
	}
	var out []string
	for _, o := range objs {
		svc, ok := o.(*corev1.Service)
		if !ok || len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		for _, s := range sets {
			if sel.Matches(labels.Set(s)) {
				out = append(out, key(svc.Namespace, svc.Name))
				break
			}
		}
	}
	return out
}

func (l *endpointsLoop) work(ctx context.Context) {
	for {
		k, shutdown := l.queue.Get()
		if shutdown {
			return
		}
		after, err := l.sync(ctx, k)
		switch {
		case ctx.Err() != nil:
			l.queue.Forget(k)
		case err != nil:
			l.log.Info("reconcile failed, will retry", "key", k, "err", err, "retries", l.queue.NumRequeues(k))
			l.queue.AddRateLimited(k)
		default:
			l.queue.Forget(k)
			if after > 0 {
				l.queue.AddAfter(k, after)
			}
		}
		l.queue.Done(k)
	}
}

// waiting reports how long k must still wait for the informers to show its writes (0: not at all).
func (l *endpointsLoop) waiting(k string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.expecting[k]
	if e == nil {
		return 0
	}
	if l.epSeen.Load() >= e.ownerRev && l.sliceSeen.Load() >= e.ownedRev || !now.Before(e.deadline) {
		delete(l.expecting, k)
		return 0
	}
	return e.deadline.Sub(now)
}

func (l *endpointsLoop) expect(k string, epRev, sliceRev int64) {
	if epRev == 0 && sliceRev == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expecting[k] = &expectation{ownerRev: epRev, ownedRev: sliceRev, deadline: time.Now().Add(ExpectationTimeout)}
}

// sync reconciles the Service k; after > 0 asks for another reconcile then.
func (l *endpointsLoop) sync(ctx context.Context, k string) (after time.Duration, err error) {
	if wait := l.waiting(k, time.Now()); wait > 0 {
		// The informer event that satisfies it queues k again; the deadline is a backstop.
		return wait, nil
	}
	gone := l.takeGone(k)
	item, exists, err := l.svcInf.GetIndexer().GetByKey(k)
	if err != nil {
		return 0, err
	}
	ep, epExists, err := l.epInf.GetIndexer().GetByKey(k)
	if err != nil {
		return 0, err
	}
	req := &abi.ReconcileRequest{Key: k, NowMillis: l.Now().UnixMilli()}
	if epExists {
		b, err := l.encode(l.endpoints, ep.(runtime.Object))
		if err != nil {
			return 0, err
		}
		req.Owned = append(req.Owned, b)
	}
	var svc *corev1.Service
	if !exists {
		if !gone || !epExists {
			return 0, nil
		}
	} else {
		svc = item.(*corev1.Service)
		if req.Object, err = l.encode(l.services, svc); err != nil {
			return 0, err
		}
		slices, err := l.sliceInf.GetIndexer().ByIndex(serviceNameIndex, k)
		if err != nil {
			return 0, err
		}
		for _, s := range slices {
			b, err := l.encode(l.slices, s.(runtime.Object))
			if err != nil {
				return 0, err
			}
			req.Owned = append(req.Owned, b)
		}
		if len(svc.Spec.Selector) > 0 && svc.Spec.Type != corev1.ServiceTypeExternalName {
			pods, err := l.podInf.GetIndexer().ByIndex(cache.NamespaceIndex, svc.Namespace)
			if err != nil {
				return 0, err
			}
			sel := labels.SelectorFromSet(svc.Spec.Selector)
			for _, o := range pods {
				p := o.(*corev1.Pod)
				if !sel.Matches(labels.Set(p.Labels)) {
					continue
				}
				b, err := l.encode(l.pods, p)
				if err != nil {
					return 0, err
				}
				req.Orphans = append(req.Orphans, b)
			}
		}
	}
	res, err := l.policy.Reconcile(ctx, req)
	if err != nil {
		if svc != nil {
			l.rec.Record(ctx, svc, corev1.EventTypeWarning, "PolicyFailed", fmt.Sprintf("the %s policy failed: %v", EndpointsModule, err))
		}
		return 0, fmt.Errorf("%s policy: %w", EndpointsModule, err)
	}
	if res.Error != "" {
		if svc != nil {
			l.rec.Record(ctx, svc, corev1.EventTypeWarning, "ReconcileError", res.Error)
		}
		return 0, fmt.Errorf("%s policy: %s", EndpointsModule, res.Error)
	}
	if err := l.apply(ctx, k, svc, res); err != nil {
		return 0, err
	}
	if res.RequeueAfterMillis > 0 {
		return time.Duration(res.RequeueAfterMillis) * time.Millisecond, nil
	}
	return 0, nil
}

// encode is the object as the API serves it: with apiVersion and kind.
func (l *endpointsLoop) encode(s *registry.Store, obj runtime.Object) ([]byte, error) {
	return encodeAs(s, obj)
}
