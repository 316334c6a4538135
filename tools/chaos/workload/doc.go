// Package workload drives a Skiff cluster with concurrent clients and
// records what they did as a history (tools/chaos/history) for the checkers
// in tools/chaos/check.
//
// Register workloads treat a set of keys as compare-and-swap registers:
// EtcdRegister on keys through the store's etcd v3 endpoint (Txn comparing
// the value), ConfigMapRegister on ConfigMaps through the Kubernetes API
// (updates carrying the resourceVersion read; a 409 Conflict is a failed
// cas). EtcdWatcher watches the registers' prefix, resuming after every
// disconnect from the revision after the last event it saw, and restarting
// on purpose now and then so resumption is exercised.
//
// Every write uses a value unique in the run and every run uses fresh keys,
// so registers start absent, as the checkers assume. An error that proves an
// operation did not happen (a conflict, an invalid request) is recorded as
// Fail; any other error of a write (a timeout, an unavailable member) as
// Unknown, after which the client continues under a new client id.
//
// Run runs workloads until its context ends, then lets operations in
// flight finish (each within its timeout), then lets the watchers catch up
// with the last writes, and returns the history. Final then reads every
// register's value for the lost-write checker; call it after faults are
// healed.
package workload
