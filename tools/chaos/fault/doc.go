// Package fault injects and heals the faults of a chaos run against a
// cluster of servers (a Target: the lab in tools/chaos/run, Mem in tests),
// on a seeded, reproducible schedule.
//
// A Kind names a fault: kill -9 of the leader or a follower and its restart,
// SIGSTOP/SIGCONT of a server, the leader or one VM cut off the network, a
// minority/majority split, a ring of overlapping majorities, containerd
// killed under a node daemon, a burst of leadership transfers, a bit flipped
// in or a truncation of a stopped server's raft log or snapshot (it must
// refuse to start or recover from its peers; heal wipes a server that
// refused and lets it rejoin), a full disk under a server's data. Record
// Outcome says how the cluster took the data faults. Schedule turns
// a seed and the kinds into steps (which fault, how long to wait before it,
// how long to hold it, which VMs it picks); the same seed gives the same
// steps. A Book injects steps, remembers how to heal each one, and heals
// every fault still open on HealAll, also after its context ended, so a run
// never leaves a fault behind; its Records are the run's fault timeline.
package fault
