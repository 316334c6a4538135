// Package defaulting fills in the fields kube-apiserver defaults when an object
// of one of Skiff's served k8s.io/api v1 types is created or updated.
//
// It is a port of Kubernetes 1.37's scheme defaulting with the default feature
// gates: the hand-written SetDefaults_ functions of pkg/apis/core/v1,
// pkg/apis/apps/v1 and pkg/apis/discovery/v1, the declarative `+default=`
// tags of k8s.io/api, and the walk the generated zz_generated.defaults.go
// files make through nested types (containers, ports, probes, volumes,
// resource lists). The goal is that `kubectl get -o yaml` against Skiff shows
// the same defaulted fields as against kube-apiserver.
//
// The registry calls Default on create, on update and after patches, so every
// default only fills a field that is unset: Default is idempotent.
//
// What is not here, because Kubernetes does not do it in defaulting either:
//   - values that depend on cluster state or on the stored object, which the
//     registry owns: a Service's clusterIP(s), nodePorts, ipFamilies and
//     ipFamilyPolicy (SingleStack, RequireDualStack for headless selectorless
//     Services, or the old object's policy on update);
//   - create-only strategy fields: a Namespace's "kubernetes" finalizer (see
//     PrepareNamespaceForCreate), a Pod's status phase and QoS class, an
//     object's generation.
//
// Types with no defaults (core/v1 Event, events.k8s.io/v1 Event,
// coordination.k8s.io/v1 Lease, autoscaling/v1 Scale) and unknown types are
// left alone.
package defaulting
