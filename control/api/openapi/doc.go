// Package openapi builds and serves the OpenAPI documents of Skiff's API:
// the v2 document at /openapi/v2 and the v3 index and per group-version
// documents at /openapi/v3 and /openapi/v3/{api/v1, apis/apps/v1, ...}.
//
// The schemas are not written by hand: zz_generated.openapi.go is produced by
// k8s.io/kube-openapi's openapi-gen from the Go types of the served k8s.io/api
// groups and the apimachinery meta types, exactly as kube-apiserver's
// generated definitions are, so doc comments become descriptions (what
// `kubectl explain` prints) and the +patchStrategy / +patchMergeKey /
// +listType tags become the x-kubernetes-* extensions kubectl's strategic
// merge relies on. Definition names are the model names kube-apiserver uses
// (io.k8s.api.apps.v1.Deployment), and every kind registered in the served
// groups carries x-kubernetes-group-version-kind, as kube-apiserver's
// definition namer adds it.
//
// Paths are built here from a list of Resources (the API server's own
// table), one path item per collection, object and subresource, with the
// operation ids, parameters, consumes/produces and x-kubernetes-action
// extensions kube-apiserver's installer gives them. Serving goes through
// kube-openapi's handler (v2: JSON and protobuf, ETag) and handler3 (v3 index
// with ?hash= URLs, immutable caching of hashed URLs, JSON and protobuf).
//
// Regenerating the schemas: after bumping k8s.io/api, k8s.io/apimachinery or
// k8s.io/kube-openapi in go.mod, run `go generate ./control/api/openapi/` from
// the repository root (it needs the Go module proxy once to fetch the
// generator). Keep the openapi-gen version in the directive below equal to
// the k8s.io/kube-openapi version in go.mod; add a package to the list when
// the API server starts serving a new group.
package openapi

//go:generate go run k8s.io/kube-openapi/cmd/openapi-gen@v0.0.0-20260721132016-d427ff9ee9ad --output-dir . --output-pkg github.com/skiff-sh/skiff/control/api/openapi --output-file zz_generated.openapi.go --go-header-file /dev/null --report-filename /dev/null k8s.io/api/core/v1 k8s.io/api/apps/v1 k8s.io/api/autoscaling/v1 k8s.io/api/discovery/v1 k8s.io/api/events/v1 k8s.io/api/coordination/v1 k8s.io/apimachinery/pkg/apis/meta/v1 k8s.io/apimachinery/pkg/api/resource k8s.io/apimachinery/pkg/util/intstr k8s.io/apimachinery/pkg/runtime k8s.io/apimachinery/pkg/version
