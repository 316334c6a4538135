// Package gc is Skiff's garbage collector: kube-controller-manager's
// garbagecollector, run in process against the registry.
//
// It watches every served resource through shared informers
// (control/informer), keeps a graph of owners and dependents by UID, and
// acts on it as Kubernetes does:
//
//   - background: an object whose every ownerReference names an owner that
//     is gone (absent, or present under a new UID) is deleted; one with an
//     owner still alive only loses the dangling references.
//   - foreground: an owner deleted with the foregroundDeletion finalizer has
//     its dependents deleted (themselves in the foreground when they own
//     something); once no dependent with blockOwnerDeletion remains, the
//     finalizer is removed and the owner goes.
//   - orphan: an owner deleted with the orphan finalizer has the references
//     to it removed from its dependents, then the finalizer removed.
//
// The graph only says what to look at. Every decision is taken on the
// objects as the store has them then (linearizable reads), and every write
// carries a UID precondition, so a lagging watch or an object recreated
// under the same name never causes a wrong deletion. Work runs on
// rate-limited work queues, off the informers' handlers. References to kinds Skiff
// does not serve, and malformed references (no name or no UID), are never
// judged: they count as live owners.
//
// Events are not watched, as kube-controller-manager ignores them. The
// collector acts on the whole store; run it on the raft leader only.
package gc
