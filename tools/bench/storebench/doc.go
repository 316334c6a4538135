// Package storebench measures Skiff's replicated store against etcd, the store it
// stands in for. It backs `skiff bench store --vs-etcd`.
//
// Run starts a three-member etcd (the anchor: default settings, fsync on) and a
// three-node Skiff store (`skiff server`), both on loopback with ports taken from
// the kernel, waits until every member answers Maintenance.Status with a leader
// elected, and then drives both with the same etcd v3 client workloads: sequential
// and concurrent puts, a Kubernetes-style compare-and-swap loop, linearizable and
// serializable single-key reads, watch delivery latency under concurrent writers
// and, for Skiff only, the time to the first acknowledged write after the leader
// is killed with SIGKILL. It prints a table and ends with one line that machines
// read:
//
//	store/etcd ratio: put1p50=X put64=X put256=X txn64=X rangeL1=X rangeS1=X watchP99=X failover=Nms
//
// Every ratio is "bigger is better": throughput is skiff/etcd, latency etcd/skiff.
//
// Design choices, so the numbers can be read with the method in mind:
//
//   - Both clusters run for the whole benchmark, but only one carries load at a
//     time, and the two are interleaved per workload (etcd put1, skiff put1, etcd
//     put64, ...) so that machine noise hits both alike.
//   - All workload clients talk to the current leader only, for both stores, as the
//     etcd figures in Skiff's notes were taken "to the leader"; this keeps follower
//     forwarding out of the comparison. The leader is looked up again before every
//     workload.
//   - Multi-client workloads share Options.Conns gRPC connections (clientv3
//     clients, default 8), goroutine i using connection i mod Conns, as etcd's
//     benchmark tool shares --conns among --clients.
//   - Keys are drawn uniformly from Options.Keys keys under a prefix per workload;
//     values are Options.ValueSize bytes.
//   - A latency is one request, except txn64 where it is one whole update: the Get
//     plus every Txn until the compare-and-swap succeeds, as kube-apiserver's
//     GuaranteedUpdate sees it. Each txn64 client owns its keys, so conflicts are rare.
//   - Watch latency is from just before the Put to when the watcher sees the event;
//     the send time rides in the value, measured on this process's monotonic clock.
//   - Failover: three writers (one per member, each call bounded by 200 ms) run
//     for a moment, the leader's process group is killed, and the clock runs from
//     the kill to the first Put acknowledged by a survivor that was sent after the
//     old leader was reaped.
//   - Percentiles are nearest-rank over a sorted slice of all latencies; no
//     histograms, so there is no bucketing error to reason about.
//   - A workload that completes no operation on either store fails the run: the
//     ratio line is then not printed, rather than printed with made-up numbers.
//
// Every process is started in its own process group with its stdout and stderr in
// a file in the run's scratch directory, and every process group is killed and the
// directory removed when Run returns, on error and on cancellation too.
package storebench
