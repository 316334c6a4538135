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
package run
