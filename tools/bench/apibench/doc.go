// Package apibench measures Skiff's Kubernetes API against its own store, the
// ceiling the API can at best reach. It backs `skiff bench api`.
//
// Run starts three `skiff server` processes on loopback (ports from the
// kernel, the API on 127.0.0.1:0, whose chosen port each server writes into
// <data-dir>/kubeconfig), waits until every one answers /readyz, and then, in
// one run against the same three servers:
//
//   - api: Options.Workers goroutines create Options.Pods unscheduled pods in
//     namespace default through client-go (k8s.io/client-go/kubernetes), worker
//     w talking to server w mod 3. The pod is small and realistic: one
//     nginx-like container, labels, requests of cpu 100m and memory 64Mi.
//     A create's latency is the Create call; the rate is successful creates per
//     second of wall time from the first call to the last answer.
//   - watch: before the first create, a client-go Watch on pods is opened on
//     every server; the one on server s+1 mod 3 sees, by label selector, the
//     pods created through server s, so every event crosses servers (and the
//     store's replication). A pod's watch latency runs from just before its
//     Create call to the arrival of its ADDED event, matched by name.
//   - store: the same workers write the same number of raw puts through the
//     etcd v3 client (one gRPC client per server, worker w on server w mod 3),
//     each value as large as the first pod's stored value under
//     /registry/pods/default/<name>.
//
// It prints a short table and ends with the one line machines read:
//
//	api: create=N/s p99=Nms watchP99=Nms api/store=X
//
// where api/store is the create rate over the put rate. Latencies are
// nearest-rank percentiles over all samples, rounded up to whole
// milliseconds; rates are rounded to whole operations per second. A run in
// which any create or put failed, or any created pod's ADDED event did not
// arrive, prints the table and returns an error instead of the line.
//
// The benchmark process itself (TLS, encoding, 32 workers) runs on the same
// machine as the three servers, so on a small machine it competes with them
// for CPU; the figures measure the whole loopback system, not the API alone.
//
// Every server runs in its own process group with Pdeathsig set, its output in
// a file of the run's scratch directory; every group is killed and the
// directory removed (unless Options.Keep) when Run returns, on error and on
// cancellation too.
package apibench
