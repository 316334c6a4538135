// Package agent is Skiff's node daemon (`skiff node`, or inside `skiff
// server --with-node`): what the kubelet and kube-proxy are to Kubernetes.
//
// It registers its Node (capacity from the machine or configuration,
// addresses, conditions, the runtime's version), waits for the control
// plane to give it a pod CIDR, renews its Lease every 10 s and posts its
// status when it changes (at least every 5 minutes). It starts (or adopts)
// the node's own containerd and runs the pods bound to it (package
// podsync) with containerd (package runtime) and veth networking (package
// network); it routes the other nodes' pod CIDRs through their addresses,
// programs Services into nftables (package proxy) from Services and
// EndpointSlices, and serves container logs to the API server (package
// logserver).
//
// Stopping the agent stops none of the pods: the next agent adopts them.
package agent
