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
//
// Authentication and authorization (auth.go, nodeauthz.go): the admin
// token is user "admin", allowed everything; a node's credential is user
// "system:node:NAME" in group "system:nodes", limited as Kubernetes' Node
// authorizer and NodeRestriction admission limit a kubelet (its own Node
// and Lease, the status of pods bound to it, deleting them, events, reads),
// except that reads are not filtered by node. Nodes get their credential at
// NodeCredentialsPath by proving the cluster's join token, after checking
// the cluster CA's signature with it (nodecredentials.go); the credentials
// are kept hashed in the store, one key per node (credentials.go).
package apiserver
