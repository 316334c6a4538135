// Package validation checks the Kubernetes objects Skiff serves the way the
// Kubernetes API server does, so that kubectl and client-go see the same 422
// causes (field path, error type and message) from Skiff as from Kubernetes.
//
// It is a port, simplified where reasonable, of kubernetes/kubernetes
// pkg/apis/core/validation, pkg/apis/apps/validation,
// pkg/apis/discovery/validation, pkg/apis/coordination/validation and the
// event and autoscaling validation, written against the versioned k8s.io/api
// types (core/v1, apps/v1, discovery.k8s.io/v1, coordination.k8s.io/v1,
// events.k8s.io/v1, autoscaling/v1) instead of Kubernetes' internal ones. It
// builds on k8s.io/apimachinery's own validation helpers for metadata, names,
// labels and selectors.
//
// The API server calls ValidateCreate, ValidateUpdate or ValidateStatusUpdate
// after it has decoded and defaulted an object, and turns a non-empty
// field.ErrorList into a 422 Invalid status (apierrors.NewInvalid). The checks
// are pure functions of the objects passed in: they read no store, clock or
// feature gate. Server-side work that Kubernetes does around validation, such
// as filling in the resourceVersion of an unconditional update, allocating
// cluster IPs or node ports, or merging a Secret's stringData, stays with the
// caller (stringData is nevertheless checked as if merged into data).
package validation
