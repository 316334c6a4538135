package abi

import "encoding/json"

// The cold paths speak JSON: configuration (skiff_configure: the input is the module's
// configuration document, the output an optional error message), module info (skiff_info: no
// input, Info out) and controller reconcile (skiff_reconcile: ReconcileRequest in,
// ReconcileResult out). None of these is per-node work.

// Info describes a module; it is the output of skiff_info.
type Info struct {
	// Name is the module's own name for itself, for logs.
	Name string `json:"name,omitempty"`
	// Reasons are the texts of the module-defined reason bits, keyed by bit number (16-31).
	Reasons map[int]string `json:"reasons,omitempty"`
}

// ReconcileRequest is the input of skiff_reconcile: one object and everything it owns.
type ReconcileRequest struct {
	// Key is "namespace/name" (or "name") of the object being reconciled.
	Key string `json:"key"`
	// Object is the object as the API serves it; absent when it was deleted.
	Object json.RawMessage `json:"object,omitempty"`
	// Owned are the objects whose controller ownerReference points at Object.
	Owned []json.RawMessage `json:"owned,omitempty"`
	// Orphans are objects of the kinds the object controls that have no controller
	// ownerReference and that its selector matches: candidates for adoption. Hosts fill it for
	// controllers that adopt (the built-in replicaset and deployment controllers); others get none.
	Orphans []json.RawMessage `json:"orphans,omitempty"`
	// Related are other objects the host's controller reads with the object (read-only inputs):
	// for the node lifecycle controller, the node's Lease.
	Related []json.RawMessage `json:"related,omitempty"`
	// Facts are what the host knows that is not an API object, as text: for the node lifecycle
	// controller, "member.status" (Serf's view of the node: alive, leaving, left or failed;
	// absent without Serf) and "member.sinceMillis" (when the member entered that status).
	Facts map[string]string `json:"facts,omitempty"`
	// Config is the controller's configuration document (JSON), as the host was given it.
	Config json.RawMessage `json:"config,omitempty"`
	// Now is the host's clock in Unix milliseconds; guests have no clock of their own.
	NowMillis int64 `json:"nowMillis,omitempty"`
	// DryRun is set by the host's load-time check: answer with an empty result, change nothing.
	DryRun bool `json:"dryRun,omitempty"`
}

// Action verbs.
const (
	VerbCreate       = "create"
	VerbUpdate       = "update"
	VerbUpdateStatus = "updateStatus"
	VerbDelete       = "delete"
)

// Action is one write the host performs for the module.
type Action struct {
	Verb string `json:"verb"`
	// Object is the full object for create and update; for delete it needs only apiVersion,
	// kind and metadata (namespace, name, and uid/resourceVersion as preconditions).
	Object json.RawMessage `json:"object"`
}

// Event is a Kubernetes event the host records on the reconciled object.
type Event struct {
	Type    string `json:"type"` // Normal or Warning
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Action, if set, is the index of the action the event reports: the host records the
	// event only once that action succeeded, with "{name}" in the message replaced by the
	// written object's name (a created object's name is known only then); if it failed, the
	// host records a Warning "Failed<Verb>" event with the error instead.
	Action *int `json:"action,omitempty"`
}

// ReconcileResult is the output of skiff_reconcile.
type ReconcileResult struct {
	Actions []Action `json:"actions,omitempty"`
	Events  []Event  `json:"events,omitempty"`
	// RequeueAfterMillis asks the host to reconcile the key again after this long (0: only on change).
	RequeueAfterMillis int64 `json:"requeueAfterMillis,omitempty"`
	// Error reports a failed reconcile; the host retries with backoff.
	Error string `json:"error,omitempty"`
}
