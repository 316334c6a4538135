package gc

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// hasDependents reports whether anything names ref as its owner. The graph
// answers yes; a no, which decides how an object is deleted, is confirmed
// in the store, since the graph may not have seen a new dependent yet.
func (r *run) hasDependents(ctx context.Context, ref objectRef) bool {
	if len(r.graph.dependents(ref.uid)) != 0 {
		return true
	}
	live, err := r.liveDependents(ctx, ref)
	if err != nil {
		r.log.Warn("gc: cannot list dependents, assuming some", "object", ref, "err", err)
		return true // foreground is the safe way
	}
	return len(live) != 0
}

// liveDependents reads the objects that name ref as their owner from the
// store: those of ref's namespace, or every object when ref is
// cluster-scoped. It costs a list of each resource, so the collector only
// asks when the graph's answer would let something go.
func (r *run) liveDependents(ctx context.Context, ref objectRef) ([]dependent, error) {
	namespaced := ref.store.Resource().Namespaced
	var out []dependent
	for _, s := range r.stores {
		if namespaced && !s.Resource().Namespaced {
			continue
		}
		ns := ""
		if namespaced {
			ns = ref.namespace
		}
		list, err := s.List(ctx, ns, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("gc: list %s for dependents of %s: %w", s.Resource().Plural, ref, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, fmt.Errorf("gc: list %s: %w", s.Resource().Plural, err)
		}
		for _, item := range items {
			m, err := meta.Accessor(item)
			if err != nil {
				continue
			}
			for _, o := range m.GetOwnerReferences() {
				if o.UID == ref.uid {
					out = append(out, dependent{
						ref:      objectRef{store: s, namespace: m.GetNamespace(), name: m.GetName(), uid: m.GetUID()},
						blocking: blocks(o),
					})
					break
				}
			}
		}
	}
	return out, nil
}
