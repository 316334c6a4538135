// Package nscontroller is Skiff's namespace controller: the lifecycle half
// of kube-controller-manager's namespace controller, run in process against
// the registry.
//
// A namespace being deleted stays in the store, Terminating, while its
// spec.finalizers holds "kubernetes". The controller deletes every object
// in it, of every namespaced resource (background propagation, as
// Kubernetes does), reports progress in the namespace's conditions
// (NamespaceDeletionContentFailure, NamespaceContentRemaining,
// NamespaceFinalizersRemaining and the two discovery ones, always fine
// here), and once nothing is left removes its finalizer through the
// finalize subresource, which lets the namespace go.
//
// Pods: a plain delete ends a pod no node runs at once; a pod bound to a
// node gets a grace period for its node to confirm. Skiff has no node
// daemon yet, so nothing may ever confirm: once the pod's deletionTimestamp
// (the end of its grace period) has passed, the controller deletes it with
// grace 0. That holds for any object whose graceful deletion is overdue.
// Objects held by finalizers (a foreground deletion the garbage collector
// works on, or a user's finalizer) are waited for, as Kubernetes does.
//
// The controller watches namespaces, and the names of the objects of every
// namespaced resource (control/informer names informers, whose watches
// decode nothing), so a terminating namespace is looked at again as soon
// as its content changes; it also looks again when a grace period ends,
// and every 15 s while finalizers hold content. Run it on the raft leader
// only.
package nscontroller
