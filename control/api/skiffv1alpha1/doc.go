// Package skiffv1alpha1 is Skiff's own API group, skiff.dev/v1alpha1: the
// policy modules users upload and the scheduling policies that run them.
//
// A PolicyModule is an immutable, content-addressed wasm module: its name is
// "sha256-<hex>" of its bytes. A SchedulingPolicy names a module by content
// address ("sha256:<hex>") and serves the pods whose spec.schedulerName is
// the policy's name; its status keeps the modules it pointed at, for
// rollback. The types are plain Go with hand-written DeepCopy; they have no
// protobuf encoding and are stored and served as JSON.
package skiffv1alpha1
