// Package trace reconstructs a Deployment's lifecycle as a timeline: which step happened when,
// and on which node — created, ReplicaSet per revision, pods created and scheduled, image
// pulled, sandbox (netns + veth) ready, containers started, pod Ready, endpoints listing the
// pod, and the Service's proxy rules programmed on each node. It is `skiff trace deployment
// NAME`; the dashboard reads the same Timeline as JSON.
//
// Collect reads only what the API already holds: the Deployment, its ReplicaSets and pods
// (by controller ownerReference), the Services whose selector matches the pod template, their
// EndpointSlices, and the namespace's core/v1 Events (listed once and filtered by involved
// object, which is one request instead of one per object). Nothing is watched or written.
//
// Times and their precision. Object timestamps (creationTimestamp, condition
// lastTransitionTime, startedAt, managedFields time) travel as RFC 3339 with whole seconds, so
// the steps taken from them are marked Approx: the true time lies within the second that
// follows. Events are better: client-go's recorder and Skiff's controllers and scheduler name
// an event "<object>.<hex UnixNano>" of the moment they stamped it, so an event's time is
// recovered to the nanosecond from its name when that agrees with its firstTimestamp (and
// eventTime, when set, is used first). An Approx step is then moved forward to the latest
// precise step of the same object that must have happened before it and lies within its
// second (a pod is not Ready before its containers started), which turns most second-rounded
// times into tight lower bounds.
//
// Endpoints. Only the current EndpointSlices are visible, not their history, so "endpoints
// include the pod" is stamped with the slice's last write — the newest managedFields time,
// else its creationTimestamp — and never earlier than the pod's Ready. It is an upper bound:
// a slice rewritten later for another pod moves it later.
//
// The node daemon and the proxy record two events of their own for this timeline; their
// reasons and message formats are defined here (ReasonSandboxReady, ReasonProxyProgrammed,
// SandboxReadyMessage, ProxyProgrammedMessage) so that writer and reader agree.
package trace
