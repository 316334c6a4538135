package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/wasm/abi"
)

// controllerIndex indexes controlled objects by their controller's uid.
const controllerIndex = "skiff.dev/controller-uid"

// Retry backoff of a failed key.
const (
	minRetry = 5 * time.Millisecond
	maxRetry = 30 * time.Second
)

func controllerUID(obj any) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil
	}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return nil, nil
}

// loop is one controller during one Run.
type loop struct {
	*Controllers
	kind
	policy    Reconciler
	log       *slog.Logger
	events    *registry.Store
	ownerInf  cache.SharedIndexInformer
	ownedInf  cache.SharedIndexInformer
	handlers  []func()
	synced    []cache.DoneChecker
	queue     workqueue.TypedRateLimitingInterface[string]
	ownerSeen atomic.Int64 // highest revision the owner handler has seen
	ownedSeen atomic.Int64 // the same for the controlled kind
	mu        sync.Mutex
	expecting map[string]*expectation
}

// expectation is what a key waits for: the informers reaching the revisions written for it.
type expectation struct {
	ownerRev, ownedRev int64
	deadline           time.Time
}

func newLoop(c *Controllers, k kind, f *informer.Factory, events *registry.Store) (*loop, error) {
	l := &loop{
		Controllers: c, kind: k, policy: c.policies[k.module], events: events,
		log: c.log.With("controller", k.component),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](minRetry, maxRetry),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: k.module}),
		expecting: map[string]*expectation{},
	}
	l.ownerInf = f.ForStore(k.owner)
	l.ownedInf = f.ForStore(k.owned)
	if _, ok := l.ownedInf.GetIndexer().GetIndexers()[controllerIndex]; !ok {
		if err := l.ownedInf.AddIndexers(cache.Indexers{controllerIndex: controllerUID}); err != nil {
			if _, ok := l.ownedInf.GetIndexer().GetIndexers()[controllerIndex]; !ok {
				return nil, fmt.Errorf("controllers: index %s: %w", k.owned.Resource().GroupResource(), err)
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
	err := add(l.ownerInf, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { l.seen(&l.ownerSeen, obj); l.enqueue(obj) },
		UpdateFunc: func(_, obj any) { l.seen(&l.ownerSeen, obj); l.enqueue(obj) },
		DeleteFunc: func(obj any) { l.seen(&l.ownerSeen, obj); l.enqueue(obj) },
	})
	if err == nil {
		err = add(l.ownedInf, cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { l.seen(&l.ownedSeen, obj); l.ownedChanged(obj) },
			UpdateFunc: func(old, obj any) {
				l.seen(&l.ownedSeen, obj)
				l.ownedChanged(old)
				l.ownedChanged(obj)
			},
			DeleteFunc: func(obj any) { l.seen(&l.ownedSeen, obj); l.ownedChanged(obj) },
		})
	}
	if err != nil {
		l.stop()
		return nil, err
	}
	return l, nil
}

func (l *loop) stop() {
	for _, h := range l.handlers {
		h()
	}
	l.queue.ShutDown()
}

// run works until ctx ends.
func (l *loop) run(ctx context.Context, workers int) {
	defer l.stop()
	if !cache.WaitFor(ctx, l.component, l.synced...) {
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

func object(obj any) metav1.Object {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return m
}

// seen records the revision an event handler has reached.
func (l *loop) seen(rev *atomic.Int64, obj any) { advance(rev, obj) }

// advance raises rev to obj's resourceVersion.
func advance(rev *atomic.Int64, obj any) {
	if _, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return
	}
	m := object(obj)
	if m == nil {
		return
	}
	r, err := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
	if err != nil {
		return
	}
	for {
		cur := rev.Load()
		if r <= cur || rev.CompareAndSwap(cur, r) {
			return
		}
	}
}

func (l *loop) enqueue(obj any) {
	if m := object(obj); m != nil {
		l.queue.Add(key(m.GetNamespace(), m.GetName()))
	}
}

func key(ns, name string) string { return ns + "/" + name }

// ownedChanged queues the owner of a controlled object, or every owner whose selector matches
// an orphan.
func (l *loop) ownedChanged(obj any) {
	m := object(obj)
	if m == nil {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		if ref.Kind == l.owner.Resource().Kind.Kind {
			l.queue.Add(key(m.GetNamespace(), ref.Name))
		}
		return
	}
	owners, err := l.ownerInf.GetIndexer().ByIndex(cache.NamespaceIndex, m.GetNamespace())
	if err != nil {
		return
	}
	for _, o := range owners {
		om := object(o)
		if om != nil && l.matches(o.(runtime.Object), m.GetLabels()) {
			l.queue.Add(key(om.GetNamespace(), om.GetName()))
		}
	}
}

// matches reports whether an owner's selector selects labels; a missing, empty or invalid
// selector selects nothing.
func (l *loop) matches(owner runtime.Object, lbls map[string]string) bool {
	ls := l.selector(owner)
	if ls == nil || (len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0) {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	return err == nil && sel.Matches(labels.Set(lbls))
}

func (l *loop) work(ctx context.Context) {
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

// waiting reports how long k must still wait for its expectations (0: not at all).
func (l *loop) waiting(k string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.expecting[k]
	if e == nil {
		return 0
	}
	if l.ownerSeen.Load() >= e.ownerRev && l.ownedSeen.Load() >= e.ownedRev || !now.Before(e.deadline) {
		delete(l.expecting, k)
		return 0
	}
	return e.deadline.Sub(now)
}

// expect makes k wait until the informers reach the revisions written.
func (l *loop) expect(k string, ownerRev, ownedRev int64) {
	if ownerRev == 0 && ownedRev == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expecting[k] = &expectation{ownerRev: ownerRev, ownedRev: ownedRev, deadline: time.Now().Add(ExpectationTimeout)}
}

// sync reconciles one key; after > 0 asks for another reconcile then.
func (l *loop) sync(ctx context.Context, k string) (after time.Duration, err error) {
	if wait := l.waiting(k, time.Now()); wait > 0 {
		// The informer event that satisfies it queues k again; the deadline is a backstop.
		return wait, nil
	}
	item, exists, err := l.ownerInf.GetIndexer().GetByKey(k)
	if err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	owner := item.(runtime.Object)
	om := object(owner)
	req := &abi.ReconcileRequest{Key: k, NowMillis: l.Now().UnixMilli()}
	if req.Object, err = l.encode(l.owner, owner); err != nil {
		return 0, err
	}
	owned, err := l.ownedInf.GetIndexer().ByIndex(controllerIndex, string(om.GetUID()))
	if err != nil {
		return 0, err
	}
	for _, o := range owned {
		b, err := l.encode(l.owned, o.(runtime.Object))
		if err != nil {
			return 0, err
		}
		req.Owned = append(req.Owned, b)
	}
	if om.GetDeletionTimestamp() == nil {
		all, err := l.ownedInf.GetIndexer().ByIndex(cache.NamespaceIndex, om.GetNamespace())
		if err != nil {
			return 0, err
		}
		for _, o := range all {
			m := object(o)
			if metav1.GetControllerOfNoCopy(m) != nil || m.GetDeletionTimestamp() != nil || !l.matches(owner, m.GetLabels()) {
				continue
			}
			b, err := l.encode(l.owned, o.(runtime.Object))
			if err != nil {
				return 0, err
			}
			req.Orphans = append(req.Orphans, b)
		}
	}
	res, err := l.policy.Reconcile(ctx, req)
	if err != nil {
		l.record(ctx, owner, "Warning", "PolicyFailed", fmt.Sprintf("the %s policy failed: %v", l.module, err))
		return 0, fmt.Errorf("%s policy: %w", l.module, err)
	}
	if res.Error != "" {
		l.record(ctx, owner, "Warning", "ReconcileError", res.Error)
		return 0, fmt.Errorf("%s policy: %s", l.module, res.Error)
	}
	applyErr := l.apply(ctx, k, owner, res)
	if applyErr != nil {
		return 0, applyErr
	}
	if res.RequeueAfterMillis > 0 {
		return time.Duration(res.RequeueAfterMillis) * time.Millisecond, nil
	}
	return 0, nil
}

// encode is the object as the API serves it: with apiVersion and kind.
func (l *loop) encode(s *registry.Store, obj runtime.Object) (json.RawMessage, error) {
	return encodeAs(s, obj)
}

// encodeAs is obj as the API serves it: with the apiVersion and kind of s.
func encodeAs(s *registry.Store, obj runtime.Object) (json.RawMessage, error) {
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(s.Resource().Kind)
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", s.Resource().GroupResource(), err)
	}
	return b, nil
}

// uidOf is a convenience for checks against the cache.
func uidOf(obj any) types.UID {
	if m := object(obj); m != nil {
		return m.GetUID()
	}
	return ""
}
