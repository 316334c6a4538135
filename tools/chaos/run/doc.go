// Package run is `skiff chaos run`: it drives a lab (tools/lab) with the
// register and watch workloads of tools/chaos/workload and a Deployment of
// hello-world, injects and heals faults on a seeded schedule
// (tools/chaos/fault), heals everything at the end, reads the registers'
// final values, runs the checkers (tools/chaos/check) and a convergence
// check, and writes the report (tools/chaos/report).
//
// Faults act on the lab through labTarget: kill -9 and restarts through the
// lab's process records (a server VM's skiff is also its node daemon),
// SIGSTOP/SIGCONT, nftables partitions inside the VMs' namespaces, the VM's
// containerd found by its network namespace, and leadership transfers with
// the etcd client's MoveLeader. Health is checked before each fault and
// after each heal: every server runs and agrees on a leader, a write
// succeeds, every node is Ready.
//
// Data faults (datafaults.go): corrupt-data stops a server, damages its
// raft log or newest snapshot (lab.CorruptRaft) and starts it alone,
// watching until it serves or exits (the outcome goes into the fault's
// record); the heal leaves a serving member alone and wipes and restarts
// any other, to rejoin from its peers. disk-full fills the tmpfs Run
// mounts under each server's data directory when it brings up the lab
// (Config.DataDisk; against a lab without them the fault is dropped), and
// the heal frees it and restarts the server if the full disk stopped it.
//
// With the deployment, a service loop (service.go) GETs the Service's
// cluster IP from inside the server VMs in turn; the report counts failed
// requests per fault window.
package run
