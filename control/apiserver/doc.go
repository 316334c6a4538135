// Package apiserver serves Skiff's Kubernetes API over HTTPS, the interface
// kubectl, client-go and every Skiff component speak.
//
// This first slice serves what every client touches before anything else:
// TLS with a serving certificate from the cluster CA, bearer-token
// authentication, the health endpoints (/healthz, /livez, /readyz, with
// Kubernetes' ?verbose output), /version and /metrics (Prometheus, behind
// the token, as Kubernetes' RBAC has it). Every other path answers with a
// Kubernetes Status object, as kube-apiserver does. Resources, discovery and
// OpenAPI come next (issue 3).
package apiserver
