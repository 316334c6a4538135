// Package controllers hosts Skiff's workload controllers — ReplicaSet and Deployment — and the
// endpoints and endpointslice controllers, whose decisions are wasm policy modules
// (wasm/policies/replicaset, wasm/policies/deployment, wasm/policies/endpoints; the reconcile
// hook of wasm/ABI.md). The host does all the I/O, the policy none:
//
//   - Watching: client-go shared informers over the registry (control/informer), from one
//     factory per leadership term, for each controller's own kind and the kind it controls.
//   - Queueing: a rate-limited work queue keyed by the owner ("namespace/name"). A change of a
//     controlled object queues its controller owner; a change of an orphan queues every owner in
//     its namespace whose selector matches it (so it can be adopted).
//   - Calling: one reconcile per key, with the owner, the objects whose controller
//     ownerReference names it, the orphans its selector matches, and the host's clock.
//   - Writing: the policy's actions through the registry, in order, stopping at the first
//     failure. Updates and deletes carry the uid and resourceVersion the policy saw as
//     preconditions, so a decision made on stale state fails with a conflict and is retried.
//     A policy may only create objects it controls, change the owner or objects it controls or
//     may adopt, and delete objects it controls, in the owner's namespace and of the two kinds.
//   - Expectations: after writing, a key is not reconciled again until the informers have
//     delivered every revision written for it (each watched store's events arrive in revision
//     order, so "the cache has reached revision R" is exact). A pod just created is thus never
//     created twice because the watch had not shown it yet. Expectations lapse after
//     ExpectationTimeout, in case an informer relisted past them.
//   - Events: what the policy reports, recorded as core/v1 Events on the owner; an event tied
//     to an action is recorded only once the action succeeded ("{name}" becomes the name the
//     object got), else a Warning Failed<Verb> event is recorded instead.
//
// The endpoints controllers (endpoints.go) follow the same pattern with a loop of their own,
// because what they write is not found by ownerReference: one reconcile per Service key, with
// the Service, its Endpoints (same name) and its EndpointSlices (kubernetes.io/service-name
// label) as the request's owned objects and the pods its selector selects as its orphans. A
// pod change queues the Services selecting it before or after (only if its readiness, phase,
// addresses, deletion, node or labels changed). The policy may write only that Endpoints and
// the slices labelled managed-by endpointslice-controller.k8s.io for that Service, controlled
// by it. When a Service is deleted, or at the start of a term for every Endpoints listed
// (kube's checkLeftoverEndpoints), a key whose Service is absent gets a reconcile without
// object, and the policy deletes the Endpoints; slices go with the Service through the
// garbage collector.
//
// Controllers run on the raft leader only: Run serves one leadership term and returns when its
// context ends. Nothing is kept between terms but the loaded modules: a new term rebuilds its
// view from the informers, so no work is lost or repeated.
package controllers
