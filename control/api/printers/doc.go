// Package printers turns API objects into the meta.k8s.io/v1 Table that
// kube-apiserver returns when a client asks for
// "Accept: application/json;as=Table;v=v1;g=meta.k8s.io" (what kubectl get
// sends by default).
//
// The columns and cell values are ported from Kubernetes'
// pkg/printers/internalversion/printers.go, rewritten for the versioned types
// of k8s.io/api, so kubectl prints exactly what it prints against a real
// cluster: the pod STATUS reason logic (Init:..., CrashLoopBackOff,
// Completed, Terminating, ...), READY x/y, RESTARTS "n (age ago)", and so on.
// Like kube-apiserver's TableConvertor, every row always carries the -o wide
// cells (Priority 1 columns); kubectl hides them unless asked for -o wide.
//
// Objects without a dedicated printer get kube-apiserver's default table
// (Name, Created At). Ages are computed against a caller-supplied "now" so
// that output is deterministic in tests.
//
// The API server calls Table for list and get responses and a
// WatchConverter for each watch stream, which sends column definitions with
// the first event only, as kube-apiserver does.
package printers
