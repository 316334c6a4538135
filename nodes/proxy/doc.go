// Package proxy is Skiff's kube-proxy: it programs Service load balancing (ClusterIP and
// NodePort) into the nftables table `ip skiff` of one network namespace, and touches nothing
// else in the kernel but that table and the UDP conntrack entries of endpoints it removed.
//
// The shape follows kube-proxy's nftables mode. One rule dispatches on
// `ip daddr . meta l4proto . th dport` through the verdict map @service-ips to one chain per
// service port, which picks a ready endpoint with `numgen random mod N vmap {…}`; each endpoint
// chain marks hairpin traffic for masquerade and DNATs. NodePorts go through @service-nodeports
// for local destinations (`fib daddr type local`), via a chain that marks for masquerade.
// Service ports without endpoints are rejected (TCP reset, ICMP port unreachable) from
// @no-endpoint-services / @no-endpoint-nodeports in filter chains that run before DNAT.
//
// Rules are built as data first (see ruleset.go): the same values render to nft syntax (golden
// files, the benchmark's `nft -f` anchor) and to google/nftables expressions. Sync writes a whole
// rebuild on the first call and after an error, and otherwise only the service ports that
// changed, each time as one netlink transaction; see RATIONALE.md.
package proxy
