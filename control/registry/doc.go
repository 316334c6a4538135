// Package registry stores Kubernetes objects in raftstore with Kubernetes'
// REST semantics, independent of HTTP: keys of the form
// /registry/<resource>/<namespace>/<name>, resourceVersion as the store's
// mod revision, uid and creationTimestamp on create, generation bumped on
// spec changes only, spec and status written separately, optimistic
// concurrency (409 on a stale resourceVersion), graceful deletion and
// finalizers, lists with selectors and limit/continue at one revision, and
// watches with Kubernetes' resourceVersion rules, served from the local
// replica's history.
//
// A Resource describes one REST resource; its hooks (defaulting,
// validation, preparation of create and update) carry what differs between
// resources. Errors are k8s.io/apimachinery/pkg/api/errors status errors,
// ready to be written as a Status by the HTTP layer.
package registry
