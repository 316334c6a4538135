// Package lab runs a Skiff cluster's "VMs" on one machine: each VM is a named
// network namespace on a bridge, with its own address, data directory and
// processes, so partitions, kills and restarts act on real sockets.
//
// Up builds the lab from a Config and records everything it creates in
// <Dir>/lab.json; Load reads that record back in another process, and Down
// removes exactly what the record names (idempotently). Start, Stop and Exec
// run processes inside a VM; Snapshot lists the host resources a lab could
// leak, so tests can check that Down leaves the host as Up found it.
//
// Containment (design.md): VMs have no default route, the root namespace gets
// unreachable routes for the pod and service ranges, the bridge has no uplink,
// and nothing outside what the lab created is touched. The lab's registry runs
// in its own namespace ("reg", the subnet's .2) and mirrors gcr.io; see
// RATIONALE.md.
package lab
