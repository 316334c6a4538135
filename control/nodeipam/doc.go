// Package nodeipam gives each Node a pod CIDR (spec.podCIDR and spec.podCIDRs)
// from the cluster's pod range, as kube-controller-manager's node IPAM
// controller does with its range allocator. The node daemon waits for it
// before it wires any pod, and every node routes the other nodes' pod CIDRs
// through their addresses.
//
// Allocation is derived from the Nodes themselves: the CIDRs in use are the
// ones the stored Nodes hold, so a new leader continues where the last one
// stopped, and a deleted Node's CIDR is free again. It runs on the raft
// leader only, with one worker, so two Nodes never get the same CIDR.
package nodeipam
