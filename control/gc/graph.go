package gc

import (
	"fmt"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/control/registry"
)

// objectRef names one stored object.
type objectRef struct {
	store     *registry.Store // nil for an owner known only by reference
	namespace string
	name      string
	uid       types.UID
}

func (r objectRef) String() string {
	res := "?"
	if r.store != nil {
		res = r.store.Resource().Plural
	}
	if r.namespace != "" {
		return fmt.Sprintf("%s %s/%s (%s)", res, r.namespace, r.name, r.uid)
	}
	return fmt.Sprintf("%s %s (%s)", res, r.name, r.uid)
}

// node is an object in the graph. A node not observed is an owner named by
// some dependent's ownerReference that the watches have not shown (yet, or
// any more): it exists only to hold its dependents.
type node struct {
	ref        objectRef
	observed   bool
	owners     []metav1.OwnerReference
	dependents map[*node]struct{}
	// deletingDependents: deleted with the foregroundDeletion finalizer.
	deletingDependents bool
}

// dependent is what a worker needs to know of one dependent of an owner.
type dependent struct {
	ref                objectRef
	blocking           bool // its reference to the owner has blockOwnerDeletion
	deletingDependents bool
}

// graph is the owner/dependent graph, fed by the informers. It calls
// attemptToDelete and attemptToOrphan (which must not block) with the UIDs
// of objects that need a look.
type graph struct {
	mu              sync.Mutex
	nodes           map[types.UID]*node
	attemptToDelete func(types.UID)
	attemptToOrphan func(types.UID)
}

func newGraph(attemptToDelete, attemptToOrphan func(types.UID)) *graph {
	return &graph{nodes: map[types.UID]*node{}, attemptToDelete: attemptToDelete, attemptToOrphan: attemptToOrphan}
}

func (g *graph) nodeLocked(uid types.UID) *node {
	n := g.nodes[uid]
	if n == nil {
		n = &node{ref: objectRef{uid: uid}, dependents: map[*node]struct{}{}}
		g.nodes[uid] = n
	}
	return n
}

// dropIfUnused forgets a node nobody needs: not observed, no dependents.
func (g *graph) dropIfUnused(n *node) {
	if !n.observed && len(n.dependents) == 0 {
		delete(g.nodes, n.ref.uid)
	}
}

// observe records an object added or modified in store s.
func (g *graph) observe(s *registry.Store, obj metav1.Object) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.observeLocked(s, obj)
}

func (g *graph) observeLocked(s *registry.Store, obj metav1.Object) {
	uid := obj.GetUID()
	if uid == "" {
		return
	}
	n := g.nodeLocked(uid)
	n.ref = objectRef{store: s, namespace: obj.GetNamespace(), name: obj.GetName(), uid: uid}
	n.observed = true
	old := n.owners
	n.owners = slices.Clone(obj.GetOwnerReferences())
	g.updateOwners(n, old)

	deleting := obj.GetDeletionTimestamp() != nil
	fins := obj.GetFinalizers()
	if deleting && slices.Contains(fins, registry.FinalizerOrphan) {
		g.attemptToOrphan(uid)
	}
	foreground := deleting && slices.Contains(fins, registry.FinalizerForeground)
	if foreground && !n.deletingDependents {
		// Starts waiting for its dependents: they all go, then it does.
		for dep := range n.dependents {
			g.attemptToDelete(dep.ref.uid)
		}
		g.attemptToDelete(uid)
	}
	n.deletingDependents = foreground
}

// updateOwners links n to its current owners after they changed from old.
func (g *graph) updateOwners(n *node, old []metav1.OwnerReference) {
	oldBy := make(map[types.UID]metav1.OwnerReference, len(old))
	for _, r := range old {
		oldBy[r.UID] = r
	}
	check := false
	seen := map[types.UID]bool{}
	for _, r := range n.owners {
		if r.UID == "" || seen[r.UID] {
			continue
		}
		seen[r.UID] = true
		owner := g.nodeLocked(r.UID)
		owner.dependents[n] = struct{}{}
		if owner.ref.name == "" {
			owner.ref.name = r.Name
		}
		prev, had := oldBy[r.UID]
		switch {
		case !had:
			// A new reference: is its owner there?
			check = check || !owner.observed || owner.deletingDependents
		case blocks(prev) != blocks(r) && owner.deletingDependents:
			g.attemptToDelete(owner.ref.uid)
		}
	}
	for uid := range oldBy {
		if seen[uid] {
			continue
		}
		owner := g.nodes[uid]
		if owner == nil {
			continue
		}
		delete(owner.dependents, n)
		if owner.deletingDependents {
			g.attemptToDelete(uid)
		}
		g.dropIfUnused(owner)
	}
	if check {
		g.attemptToDelete(n.ref.uid)
	}
}

func blocks(r metav1.OwnerReference) bool {
	return r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion
}

// forget records that the object with uid is gone.
func (g *graph) forget(uid types.UID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forgetLocked(uid)
}

func (g *graph) forgetLocked(uid types.UID) {
	n := g.nodes[uid]
	if n == nil {
		return
	}
	old := n.owners
	n.owners = nil
	n.observed = false
	n.deletingDependents = false
	g.updateOwners(n, old)
	// Its dependents may have lost their last owner.
	for dep := range n.dependents {
		g.attemptToDelete(dep.ref.uid)
	}
	g.dropIfUnused(n)
}

// lookup returns the object with uid if the watches have shown it.
func (g *graph) lookup(uid types.UID) (objectRef, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.nodes[uid]
	if n == nil || !n.observed {
		return objectRef{}, false
	}
	return n.ref, true
}

// dependents returns the observed dependents of the object with uid.
func (g *graph) dependents(uid types.UID) []dependent {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.nodes[uid]
	if n == nil {
		return nil
	}
	out := make([]dependent, 0, len(n.dependents))
	for dep := range n.dependents {
		if !dep.observed {
			continue
		}
		d := dependent{ref: dep.ref, deletingDependents: dep.deletingDependents}
		for _, r := range dep.owners {
			if r.UID == uid && blocks(r) {
				d.blocking = true
			}
		}
		out = append(out, d)
	}
	return out
}

// size is the number of nodes (for tests and logs).
func (g *graph) size() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.nodes)
}
