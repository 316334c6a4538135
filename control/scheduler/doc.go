// Package scheduler is Skiff's scheduler host: it places pending pods on nodes with a policy
// module (the built-in default scheduler of wasm/policies/scheduler, in wazero or natively), as
// kube-scheduler does with its plugins. The decision is the module's; the host watches, queues,
// keeps the cluster's state and writes.
//
// On the raft leader, Run keeps client-go informers on pods and nodes (control/informer) and
// from them:
//   - a node snapshot updated incrementally: allocatable, the requests and count of the pods
//     bound to each node, labels, taints, images, unschedulable and Ready, with strings interned
//     once, and per node the number of pods of each owner (for spreading);
//   - a queue of pending pods: spec.schedulerName is ours and spec.nodeName is empty.
//
// Workers take pods from the queue in parallel. For each, one policy call filters and scores a
// window of nodes (kube-scheduler's percentageOfNodesToScore: every node up to 100, 10% at 5,000;
// a second call over the rest when the window has too few feasible nodes). The host then commits
// the best-scored node under the snapshot's lock, re-checking cpu, memory and pod count against
// the snapshot as it is now: two workers never place pods on one node's last room. The pod is
// assumed on the node at once, so the next decision sees it before the watch confirms the
// binding, and bound through the registry with the semantics of pods/binding (PodScheduled
// condition; a pod already bound or gone is skipped). Bindings run beside the workers, as
// kube-scheduler's binding cycle does.
//
// A pod that fits nowhere gets a FailedScheduling event worded as kube-scheduler's ("0/3 nodes are
// available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."), with
// Config.UnschedulableCondition a PodScheduled=False condition, and waits until a node is added or changes or a bound pod goes,
// then retries with backoff (and at least every FlushInterval). A policy failure (trap, timeout,
// bad output, quarantine) fails that attempt with an event and retries with backoff.
//
// With Config.Uploads, a SchedulingPolicy with spec.shadow runs beside the scheduler it shadows
// (shadow.go): after each placement of a pod of spec.shadowOf, the nodes of that decision go to
// a bounded queue (dropped and counted when full) and one shadow worker runs the shadow module
// on them. It never binds or assumes; agreements, disagreements and failures are counted in the
// policy's status.shadow every ShadowStatusInterval, and a disagreement is a ShadowPlacement
// event on the pod.
package scheduler
