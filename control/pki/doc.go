// Package pki holds the cluster's credentials: the certificate authority
// every control node shares, the serving certificates it issues for the API
// server, the bearer tokens clients present, and the kubeconfig files that
// hand those to kubectl.
//
// The CA's certificate and key live in the replicated store as PEM, so any
// control node can load it with [ParseCA] and issue its own serving
// certificate with [CA.IssueServing]; clients trust the cluster through
// [CA.Pool] or the CA PEM in a kubeconfig. Tokens are random ([NewToken]);
// the store keeps only [TokenHash] of each, and the API server checks a
// presented token with [TokenMatches].
//
// The package does no I/O other than [WriteKubeconfig]; time comes in as an
// argument so that issuing is reproducible in tests.
package pki
