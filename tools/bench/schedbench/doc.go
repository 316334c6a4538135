// Package schedbench is `skiff bench scheduler`: the default scheduler placing pending pods on
// nodes-as-objects in one process, with the built-in policy in wazero and with the same policy
// source compiled natively (sdk.NativeScheduler), in one run.
//
// Each (node count, policy) pair gets a fresh store: one raftstore member on disk with fsync
// (as kube's scheduler_perf runs against a real etcd), or in memory with --store memory; the
// registry over it; N Ready nodes (4 cpu, 32Gi, 110 pods) and P pending pods (100m, 500Mi, in
// ReplicaSet-like groups of 100 sharing an owner) created before the scheduler starts. The clock
// runs from the scheduler's caches being synced to the last binding committed to the store.
// Pods/s counts pods bound through the registry into the store, as scheduler_perf counts them;
// attempt latency runs from taking a pod off the queue to its binding returning. The
// decision-only rate is the policy alone: the workers calling it over a window of as many nodes
// as one decision sees (kube's percentageOfNodesToScore), encoding included, without the store.
//
// The line before the last is `load: cold=Nms cached=Nms`: the median time of Host.Load of the
// wasm module into a fresh host, with an empty compilation cache directory (compiling) and with
// one a previous load filled (as a restarted server finds it).
//
// The last line is `scheduler: wasm=N pods/s native=N pods/s ratio=X p99=Nms at M nodes`, for
// the largest node count; p99 is the wasm side's.
package schedbench
