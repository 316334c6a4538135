// Package e2e holds Skiff's end-to-end tests: a lab of three VMs (network
// namespaces, each running `skiff server --with-node`) driven by the real
// kubectl through a Deployment's whole life — scheduling, image pulls,
// containers, veth networking, Services in nftables, rolling updates,
// crash loops, readiness, node daemon restarts — and a lab down that
// leaves nothing behind. They need root and the built binary (SKIFF_BIN);
// `make test-integration` runs them.
package e2e
