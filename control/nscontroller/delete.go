package nscontroller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/control/registry"
)

// finalizerWait is how long to wait before looking again at content held
// by finalizers when no event comes first (kube-controller-manager's
// finalizerEstimateSeconds).
const finalizerWait = 15 * time.Second

var errReplaced = errors.New("nscontroller: namespace replaced by one with another uid")

// sync moves the deletion of one namespace forward. It answers how long to
// wait before looking again when content remains that only time or
// finalizers will remove.
func (r *run) sync(ctx context.Context, name string) (time.Duration, error) {
	obj, err := r.namespaces.Get(ctx, "", name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("nscontroller: get namespace %s: %w", name, err)
	}
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return 0, fmt.Errorf("nscontroller: namespace %s is a %T", name, obj)
	}
	if ns.DeletionTimestamp == nil || len(ns.Spec.Finalizers) == 0 {
		return 0, nil
	}
	content := r.deleteContent(ctx, name)
	if err := r.updateStatus(ctx, ns, content.conditions()); err != nil {
		return 0, err
	}
	if err := errors.Join(content.failures...); err != nil {
		return 0, err
	}
	if content.wait > 0 {
		r.log.Debug("nscontroller: content remains", "namespace", name, "remaining", content.remaining, "wait", content.wait)
		return content.wait, nil
	}
	return 0, r.finalize(ctx, ns)
}

// updateStatus keeps the namespace Terminating with the given conditions.
func (r *run) updateStatus(ctx context.Context, ns *corev1.Namespace, conds []corev1.NamespaceCondition) error {
	now := metav1.NewTime(r.Now().Truncate(time.Second))
	err := r.updateNamespace(ctx, ns, "status", func(cur *corev1.Namespace) {
		cur.Status.Phase = corev1.NamespaceTerminating
		updateConditions(&cur.Status, conds, now)
	})
	if err != nil {
		return fmt.Errorf("nscontroller: update status of namespace %s: %w", ns.Name, err)
	}
	return nil
}

// finalize removes the "kubernetes" finalizer through the finalize
// subresource; without other finalizers the namespace goes.
func (r *run) finalize(ctx context.Context, ns *corev1.Namespace) error {
	err := r.updateNamespace(ctx, ns, "finalize", func(cur *corev1.Namespace) {
		var kept []corev1.FinalizerName
		for _, f := range cur.Spec.Finalizers {
			if f != corev1.FinalizerKubernetes && !slices.Contains(kept, f) {
				kept = append(kept, f)
			}
		}
		slices.Sort(kept)
		cur.Spec.Finalizers = kept
	})
	if err != nil {
		return fmt.Errorf("nscontroller: finalize namespace %s: %w", ns.Name, err)
	}
	r.log.Info("nscontroller: namespace emptied and finalized", "namespace", ns.Name)
	return nil
}

// updateNamespace applies change to the namespace as stored, through the
// given subresource, unless it is gone or was replaced.
func (r *run) updateNamespace(ctx context.Context, ns *corev1.Namespace, subresource string, change func(*corev1.Namespace)) error {
	_, _, err := r.namespaces.Update(ctx, "", ns.Name, func(cur runtime.Object) (runtime.Object, error) {
		n, ok := cur.(*corev1.Namespace)
		if !ok || n.UID != ns.UID {
			return nil, errReplaced
		}
		change(n)
		n.ResourceVersion = "" // the store retries on concurrent writes
		return n, nil
	}, registry.UpdateOptions{Subresource: subresource})
	if err == nil || apierrors.IsNotFound(err) || errors.Is(err, errReplaced) {
		return nil
	}
	return err
}

// content is what deleting a namespace's content left behind.
type content struct {
	remaining  map[string]int // "resource.group" → objects left
	finalizers map[string]int // finalizer → objects it holds
	failures   []error
	// wait is how long until progress is expected without an event: the
	// end of the nearest grace period, or finalizerWait; 0 when empty.
	wait time.Duration
}

// deleteContent deletes every object in namespace and reports what is left.
func (r *run) deleteContent(ctx context.Context, namespace string) content {
	c := content{remaining: map[string]int{}, finalizers: map[string]int{}}
	for _, s := range r.content {
		if err := r.deleteAll(ctx, s, namespace); err != nil {
			c.failures = append(c.failures, err)
		}
		left, err := s.List(ctx, namespace, metav1.ListOptions{})
		if err != nil {
			c.failures = append(c.failures, fmt.Errorf("list %s: %w", s.Resource().Plural, err))
			continue
		}
		items, _ := meta.ExtractList(left)
		gr := s.Resource().GroupResource()
		held := false
		for _, item := range items {
			m, err := meta.Accessor(item)
			if err != nil {
				continue
			}
			c.remaining[gr.Resource+"."+gr.Group]++
			for _, f := range m.GetFinalizers() {
				c.finalizers[f]++
			}
			switch d, pending := gracePending(m, r.Now()); {
			case pending:
				c.wait = minWait(c.wait, d)
			case len(m.GetFinalizers()) > 0:
				c.wait = minWait(c.wait, finalizerWait)
			default:
				held = true
			}
		}
		if held {
			// Neither a grace period nor a finalizer keeps it: new content,
			// or a delete that failed. Look again soon.
			c.failures = append(c.failures, fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %s", namespace, gr.WithVersion(s.Resource().Kind.Version)))
		}
	}
	return c
}

func minWait(cur, d time.Duration) time.Duration {
	if cur == 0 || d < cur {
		return d
	}
	return cur
}

// deleteAll deletes the objects of s in namespace, in the background
// (their dependents go too), and forces those whose grace period is over.
func (r *run) deleteAll(ctx context.Context, s *registry.Store, namespace string) error {
	list, err := s.List(ctx, namespace, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list %s: %w", s.Resource().Plural, err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return fmt.Errorf("list %s: %w", s.Resource().Plural, err)
	}
	var errs []error
	background := metav1.DeletePropagationBackground
	for _, item := range items {
		m, err := meta.Accessor(item)
		if err != nil {
			continue
		}
		if m.GetDeletionTimestamp() == nil {
			out, gone, err := s.Delete(ctx, namespace, m.GetName(), &metav1.DeleteOptions{
				PropagationPolicy: &background, Preconditions: uidIs(m.GetUID()),
			})
			if err != nil {
				if !ignorable(err) {
					errs = append(errs, fmt.Errorf("delete %s %s/%s: %w", s.Resource().Plural, namespace, m.GetName(), err))
				}
				continue
			}
			if gone {
				continue
			}
			if m, err = meta.Accessor(out); err != nil {
				continue
			}
		}
		if overdue(m, r.Now()) {
			r.log.Info("nscontroller: grace period over and not confirmed, deleting now",
				"resource", s.Resource().Plural, "namespace", namespace, "name", m.GetName(), "deletionTimestamp", m.GetDeletionTimestamp())
			_, _, err := s.Delete(ctx, namespace, m.GetName(), &metav1.DeleteOptions{
				GracePeriodSeconds: new(int64(0)), Preconditions: uidIs(m.GetUID()),
			})
			if err != nil && !ignorable(err) {
				errs = append(errs, fmt.Errorf("force delete %s %s/%s: %w", s.Resource().Plural, namespace, m.GetName(), err))
			}
		}
	}
	return errors.Join(errs...)
}

func uidIs(uid types.UID) *metav1.Preconditions { return &metav1.Preconditions{UID: &uid} }

// ignorable: the object is gone, or the name now holds another one.
func ignorable(err error) bool { return apierrors.IsNotFound(err) || apierrors.IsConflict(err) }

// gracePending reports a graceful deletion still within its grace period,
// and how long is left.
func gracePending(m metav1.Object, now time.Time) (time.Duration, bool) {
	ts, g := m.GetDeletionTimestamp(), m.GetDeletionGracePeriodSeconds()
	if ts == nil || g == nil || *g == 0 || !now.Before(ts.Time) {
		return 0, false
	}
	return ts.Sub(now), true
}

// overdue reports a graceful deletion whose grace period is over and that
// nothing confirmed (its grace period is still not 0).
func overdue(m metav1.Object, now time.Time) bool {
	ts, g := m.GetDeletionTimestamp(), m.GetDeletionGracePeriodSeconds()
	return ts != nil && g != nil && *g > 0 && !now.Before(ts.Time)
}
