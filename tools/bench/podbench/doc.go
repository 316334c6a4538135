// Package podbench is `skiff bench pods`: pod start latency on a running cluster (the lab),
// create to Ready as a user sees it, with the node's share broken down from its events.
//
// A run makes a fresh namespace, first runs one warm-up pod pinned to every Ready node
// (spec.nodeName) so the image is present everywhere, then for each round creates N bare pods
// (no controller, no nodeName: the scheduler places them) at once from several goroutines. A
// pod watch and an event watch are opened before the first create, at the resourceVersion of
// a list, so nothing is missed. Per pod it records:
//
//   - create->ready: from the client's clock just before the create request to the client's
//     clock when the watch delivers the pod with condition Ready=True. This is what
//     Kubernetes' pod startup SLO measures (image pull excluded, observed by watch).
//   - netns+veth: the duration the node daemon wrote into the pod's SandboxReady event
//     ("pod network ready: IP … on veth … (netns+veth 9.2ms)").
//   - container start: the Started event's time minus the Created event's time, i.e. the
//     runc task create and start; events carry their time to the nanosecond in their names
//     ("<pod>.<hex UnixNano>", see tools/trace). The breakdown also shows create->sandbox
//     (scheduling and the node picking the pod up), sandbox->started (image check, container
//     create, task start) and started->ready (status write and watch delivery).
//
// All clocks are the machine's: the lab's VMs are network namespaces on one host.
//
// Between rounds every pod is deleted and the run waits until the API holds none; at the end
// (also after an error or an interrupt) the namespace is deleted and the run waits until it is
// gone. The report has a line per round, the distributions (p50, p90, p99, max; nearest rank)
// over all pods of all rounds, the anchor (Kubernetes' SLO: 5 s at p99; measured Kubernetes
// clusters 1.6–3 s), the verdict against the goal (p99 ≤ 2000 ms), and ends with
//
//	pods: create->ready p50=Nms p99=Nms (netns+veth p50=Nms, container start p50=Nms)
//
// with milliseconds rounded up, so that a goal is never met by rounding.
package podbench
