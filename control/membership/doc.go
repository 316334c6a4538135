// Package membership is Skiff's gossip layer: a thin wrapper around
// hashicorp/serf that every `skiff server` and `skiff node` runs.
//
// A Membership advertises the process's role (server or node) and a few
// tags (raft, API and serf addresses for servers; node name and IP for
// nodes), encrypts all gossip with a key derived from the cluster's join
// token, and turns Serf's member events into a small, non-blocking Event
// stream. Processes without the join token cannot decrypt the gossip and so
// never appear as members.
//
// Beside the runtime sit the pure decisions that the control plane makes
// from the membership, each a function of its inputs alone so it can be
// table-tested: ShouldBootstrap (Nomad/Consul-style bootstrap-expect),
// Promotions and DeadServers (autopilot-style voter management that never
// drops below quorum), and WriteMembers (the `skiff cluster members`
// table). The raft wiring that acts on these decisions lives with the
// server, not here.
package membership
