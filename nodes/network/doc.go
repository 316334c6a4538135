// Package network is the pod network of one Skiff node: what a CNI plugin does for the
// kubelet, done in process by the node daemon.
//
// For each pod it keeps a network namespace bind-mounted at <StateDir>/netns/<pod-uid> (runc
// joins it by path, and it outlives every process in it), a veth pair with eth0 inside the pod
// and a deterministically named end (HostVethName) in the node's host namespace, and an
// address from the node's pod CIDR, reserved on disk by the ipam sub-package. Wiring is
// ptp-style: the pod holds IP/32 with a "gw/32 scope link" route and a default route via the
// gateway (the pod CIDR's first usable address), the host holds the gateway address on every
// host veth and a /32 route to each pod. Other nodes' pod CIDRs are reached host-gw style,
// through routes via their node addresses (SyncRoutes), marked with a route protocol number of
// their own so nothing else is ever touched.
//
// Every operation works on the host namespace named by Config.HostNetns (the lab runs each
// node daemon inside a namespace of its own) through netlink handles bound to that namespace,
// never by moving the process. Every step is idempotent and verified before it acts, so Setup
// repeated changes nothing, Setup after a crash completes what was left, and a restarted
// daemon adopts what exists (List) instead of re-creating it. See RATIONALE.md.
package network
