package gc

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/control/registry"
)

// errReplaced reports that an object was deleted and recreated under the
// same name: the one we meant is gone.
var errReplaced = errors.New("gc: object replaced by one with another uid")

// get reads ref as the store has it now; nil when it is gone or replaced.
func get(ctx context.Context, ref objectRef) (metav1.Object, error) {
	obj, err := ref.store.Get(ctx, ref.namespace, ref.name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gc: get %s: %w", ref, err)
	}
	m, err := meta.Accessor(obj)
	if err != nil || m.GetUID() != ref.uid {
		return nil, nil
	}
	return m, nil
}

func deletingWith(m metav1.Object, finalizer string) bool {
	return m.GetDeletionTimestamp() != nil && slices.Contains(m.GetFinalizers(), finalizer)
}

// attemptToDelete looks at one object: it deletes it when all its owners
// are gone or waiting for their dependents' deletion, drops the references
// to such owners when another owner is alive, and, for an object deleting
// its dependents, removes the foreground finalizer once none blocks.
func (r *run) attemptToDelete(ctx context.Context, uid types.UID) error {
	ref, ok := r.graph.lookup(uid)
	if !ok {
		return nil // gone, or never seen: its watch event will bring it back
	}
	latest, err := get(ctx, ref)
	if err != nil || latest == nil {
		return err
	}
	if latest.GetDeletionTimestamp() != nil {
		if deletingWith(latest, registry.FinalizerForeground) {
			return r.processDeletingDependents(ctx, ref)
		}
		return nil // on its way out; its dependents are looked at once it is gone
	}
	owners := latest.GetOwnerReferences()
	if len(owners) == 0 {
		return nil
	}
	solid, dangling, waiting, err := r.classify(ctx, latest, owners)
	if err != nil {
		return err
	}
	switch {
	case len(solid) != 0:
		if len(dangling) == 0 && len(waiting) == 0 {
			return nil
		}
		// An owner is alive: keep the object, drop the references to owners
		// that are gone or waiting for their dependents to go.
		drop := append(uidsOf(dangling), uidsOf(waiting)...)
		r.log.Info("gc: removing owner references", "object", ref, "owners", drop)
		return r.removeOwnerRefs(ctx, ref, drop)
	case len(waiting) != 0 && r.hasDependents(ctx, ref):
		// An owner waits for this object, which has dependents of its own:
		// delete it in the foreground too. A dependent that also deletes in
		// the foreground may be its owner as well: unblock this object's
		// references to break the cycle (as Kubernetes does).
		for _, dep := range r.graph.dependents(uid) {
			if dep.deletingDependents {
				if err := r.unblockOwnerRefs(ctx, ref); err != nil {
					return err
				}
				break
			}
		}
		policy := metav1.DeletePropagationForeground
		r.log.Info("gc: deleting object whose owners wait for it", "object", ref, "policy", policy)
		return r.deleteObject(ctx, ref, latest.GetResourceVersion(), owners, policy)
	default:
		// No owner is alive. Honour a propagation finalizer already there.
		policy := metav1.DeletePropagationBackground
		switch {
		case slices.Contains(latest.GetFinalizers(), registry.FinalizerOrphan):
			policy = metav1.DeletePropagationOrphan
		case slices.Contains(latest.GetFinalizers(), registry.FinalizerForeground):
			policy = metav1.DeletePropagationForeground
		}
		r.log.Info("gc: deleting object whose owners are gone", "object", ref, "policy", policy)
		return r.deleteObject(ctx, ref, latest.GetResourceVersion(), owners, policy)
	}
}

// classify sorts the references of dep: solid (the owner is alive, or the
// reference is to a kind Skiff does not serve or is malformed, which is
// never judged), dangling (the owner is gone or replaced) and waiting (the
// owner is being deleted in the foreground).
func (r *run) classify(ctx context.Context, dep metav1.Object, refs []metav1.OwnerReference) (solid, dangling, waiting []metav1.OwnerReference, err error) {
	for _, ref := range refs {
		s := r.ownerStore(ref)
		if s == nil || ref.UID == "" || ref.Name == "" {
			solid = append(solid, ref)
			continue
		}
		ns := ""
		if s.Resource().Namespaced {
			if dep.GetNamespace() == "" {
				// A cluster-scoped object cannot have a namespaced owner.
				dangling = append(dangling, ref)
				continue
			}
			ns = dep.GetNamespace()
		}
		owner, err := get(ctx, objectRef{store: s, namespace: ns, name: ref.Name, uid: ref.UID})
		switch {
		case err != nil:
			return nil, nil, nil, err
		case owner == nil:
			dangling = append(dangling, ref)
		case deletingWith(owner, registry.FinalizerForeground):
			waiting = append(waiting, ref)
		default:
			solid = append(solid, ref)
		}
	}
	return solid, dangling, waiting, nil
}

// ownerStore is the store of the kind a reference names, or nil.
func (r *run) ownerStore(ref metav1.OwnerReference) *registry.Store {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil
	}
	return r.kinds[schema.GroupKind{Group: gv.Group, Kind: ref.Kind}]
}

func uidsOf(refs []metav1.OwnerReference) []types.UID {
	out := make([]types.UID, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.UID)
	}
	return out
}

// processDeletingDependents handles an owner deleted in the foreground:
// its finalizer goes once no dependent blocks it; until then its blocking
// dependents are looked at.
func (r *run) processDeletingDependents(ctx context.Context, ref objectRef) error {
	var blocking []dependent
	for _, dep := range r.graph.dependents(ref.uid) {
		if dep.blocking {
			blocking = append(blocking, dep)
		}
	}
	if len(blocking) == 0 {
		// The graph may lag behind the store: confirm before the owner goes.
		live, err := r.liveDependents(ctx, ref)
		if err != nil {
			return err
		}
		for _, dep := range live {
			if dep.blocking {
				return fmt.Errorf("gc: %s: blocking dependent %s not in the graph yet", ref, dep.ref)
			}
		}
		r.log.Info("gc: dependents gone, removing the foreground finalizer", "object", ref)
		return r.removeFinalizer(ctx, ref, registry.FinalizerForeground)
	}
	for _, dep := range blocking {
		if !dep.deletingDependents {
			r.toDelete.Add(dep.ref.uid)
		}
	}
	return nil
}

// attemptToOrphan handles an owner deleted with the orphan finalizer: the
// references to it are removed from its dependents, then the finalizer.
func (r *run) attemptToOrphan(ctx context.Context, uid types.UID) error {
	ref, ok := r.graph.lookup(uid)
	if !ok {
		return nil
	}
	latest, err := get(ctx, ref)
	if err != nil || latest == nil {
		return err
	}
	if !deletingWith(latest, registry.FinalizerOrphan) {
		return nil // deleted again with another policy since
	}
	// Orphaning is rare and a reference left behind would get the
	// dependent collected: read the dependents from the store, not the graph.
	deps, err := r.liveDependents(ctx, ref)
	if err != nil {
		return err
	}
	var errs []error
	for _, dep := range deps {
		if err := r.removeOwnerRefs(ctx, dep.ref, []types.UID{uid}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.log.Info("gc: dependents orphaned, removing the orphan finalizer", "object", ref)
	return r.removeFinalizer(ctx, ref, registry.FinalizerOrphan)
}

// deleteObject deletes ref with a uid and resourceVersion precondition.
// When the resourceVersion has moved on but the owner references are those
// the decision was taken on, it retries with the uid alone (as Kubernetes
// does); otherwise the conflict sends the object back to be looked at again.
func (r *run) deleteObject(ctx context.Context, ref objectRef, rv string, owners []metav1.OwnerReference, policy metav1.DeletionPropagation) error {
	pre := &metav1.Preconditions{UID: &ref.uid}
	if rv != "" {
		pre.ResourceVersion = &rv
	}
	_, _, err := ref.store.Delete(ctx, ref.namespace, ref.name, &metav1.DeleteOptions{Preconditions: pre, PropagationPolicy: &policy})
	if apierrors.IsConflict(err) && rv != "" {
		live, lerr := get(ctx, ref)
		if lerr == nil && live == nil {
			return nil
		}
		if lerr == nil && apiequality.Semantic.DeepEqual(live.GetOwnerReferences(), owners) {
			return r.deleteObject(ctx, ref, "", nil, policy)
		}
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("gc: delete %s: %w", ref, err)
	}
	return nil
}

// update rewrites ref with change, unless it is gone or was replaced.
func update(ctx context.Context, ref objectRef, change func(m metav1.Object)) error {
	_, _, err := ref.store.Update(ctx, ref.namespace, ref.name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, errReplaced // gone (a resource that creates on update asks with nil)
		}
		m, err := meta.Accessor(cur)
		if err != nil {
			return nil, err
		}
		if m.GetUID() != ref.uid {
			return nil, errReplaced
		}
		change(m)
		m.SetResourceVersion("") // the store retries on concurrent writes
		return cur, nil
	}, registry.UpdateOptions{})
	if err == nil || apierrors.IsNotFound(err) || errors.Is(err, errReplaced) {
		return nil
	}
	return fmt.Errorf("gc: update %s: %w", ref, err)
}

func (r *run) removeOwnerRefs(ctx context.Context, ref objectRef, uids []types.UID) error {
	return update(ctx, ref, func(m metav1.Object) {
		refs := m.GetOwnerReferences()
		kept := slices.DeleteFunc(slices.Clone(refs), func(o metav1.OwnerReference) bool { return slices.Contains(uids, o.UID) })
		if len(kept) != len(refs) {
			m.SetOwnerReferences(kept)
		}
	})
}

func (r *run) removeFinalizer(ctx context.Context, ref objectRef, finalizer string) error {
	return update(ctx, ref, func(m metav1.Object) {
		fins := m.GetFinalizers()
		if slices.Contains(fins, finalizer) {
			m.SetFinalizers(slices.DeleteFunc(slices.Clone(fins), func(f string) bool { return f == finalizer }))
		}
	})
}

func (r *run) unblockOwnerRefs(ctx context.Context, ref objectRef) error {
	return update(ctx, ref, func(m metav1.Object) {
		refs := slices.Clone(m.GetOwnerReferences())
		changed := false
		for i := range refs {
			if blocks(refs[i]) {
				refs[i].BlockOwnerDeletion = new(false)
				changed = true
			}
		}
		if changed {
			m.SetOwnerReferences(refs)
		}
	})
}
