package openapi

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource describes one served REST resource: its kind, plural name, scope,
// verbs and subresources. It mirrors a row of the API server's discovery.
type Resource struct {
	Group, Version, Kind, Resource string // "" group = core; Resource is the plural, e.g. "deployments"
	Namespaced                     bool
	Verbs                          []string      // get list watch create update patch delete deletecollection
	Subresources                   []Subresource // e.g. {Name:"status", Kind: same}, {Name:"scale", Group:"autoscaling", Version:"v1", Kind:"Scale"}
}

// Subresource describes a subresource of a Resource. Group and Version
// default to the parent's; Kind is the kind read and written through it (the
// parent's kind for "status"). An empty Kind makes it a connect-style
// subresource (exec, attach, portforward, proxy) except "log", which is read
// as plain text.
type Subresource struct {
	Name, Group, Version, Kind string
	Verbs                      []string
}

// Verbs understood on resources and subresources.
var knownVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// ErrInvalidResource is wrapped by New's errors for a malformed resource list.
var ErrInvalidResource = errors.New("openapi: invalid resource")

// newScheme registers the served group-versions (and, through each group's
// AddToScheme, the meta types every group-version carries: Status,
// DeleteOptions, WatchEvent, ...). It is what the definition namer asks for
// x-kubernetes-group-version-kind, as kube-apiserver asks its legacy scheme.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme,
		appsv1.AddToScheme,
		autoscalingv1.AddToScheme,
		discoveryv1.AddToScheme,
		eventsv1.AddToScheme,
		coordinationv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("openapi: build scheme: %w", err)
		}
	}
	return s, nil
}

// groupVersion is a served group-version with its URL prefix and the names
// used in operation ids and tags.
type groupVersion struct {
	schema.GroupVersion
}

// prefix is the URL path prefix, e.g. "/api/v1" or "/apis/apps/v1".
func (gv groupVersion) prefix() string {
	return "/" + gv.key()
}

// key is the v3 index key, e.g. "api/v1" or "apis/apps/v1".
func (gv groupVersion) key() string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// groupName is the group as it appears in operation ids: "core" for the
// legacy group, the group without ".k8s.io" otherwise.
func (gv groupVersion) groupName() string {
	if gv.Group == "" {
		return "core"
	}
	return strings.TrimSuffix(gv.Group, ".k8s.io")
}

// opPrefix is the group-version part of an operation id, e.g. "AppsV1".
func (gv groupVersion) opPrefix() string {
	return toValidOperationID(gv.groupName(), true) + toValidOperationID(gv.Version, true)
}

// tag is the operation tag, e.g. "apps_v1", as kube-apiserver names it.
func (gv groupVersion) tag() string {
	return toValidOperationID(gv.groupName(), false) + "_" + toValidOperationID(gv.Version, false)
}

// toValidOperationID turns s into an identifier: punctuation is dropped and
// the letter after it capitalised (kube-apiserver's ToValidOperationID).
func toValidOperationID(s string, capitalizeFirst bool) string {
	var b strings.Builder
	capitalize := capitalizeFirst
	for i, r := range s {
		isLetter := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if isLetter || r == '_' || (i != 0 && r >= '0' && r <= '9') {
			if capitalize {
				b.WriteString(strings.ToUpper(string(r)))
				capitalize = false
			} else {
				b.WriteRune(r)
			}
			continue
		}
		capitalize = true
	}
	return b.String()
}

// validate checks a resource list for the mistakes that would make a wrong
// document: missing names, unknown verbs, duplicates.
func validate(resources []Resource) error {
	seen := map[string]bool{}
	for i, r := range resources {
		if r.Version == "" || r.Kind == "" || r.Resource == "" {
			return fmt.Errorf("%w: resources[%d] %q: version, kind and resource are required", ErrInvalidResource, i, r.Resource)
		}
		if strings.Contains(r.Resource, "/") {
			return fmt.Errorf("%w: resources[%d] %q: name a subresource in Subresources, not with a slash", ErrInvalidResource, i, r.Resource)
		}
		id := r.Group + "/" + r.Version + "/" + r.Resource
		if seen[id] {
			return fmt.Errorf("%w: %s listed twice", ErrInvalidResource, id)
		}
		seen[id] = true
		if err := checkVerbs(r.Verbs); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidResource, id, err)
		}
		subs := map[string]bool{}
		for _, s := range r.Subresources {
			if s.Name == "" || strings.Contains(s.Name, "/") {
				return fmt.Errorf("%w: %s: bad subresource name %q", ErrInvalidResource, id, s.Name)
			}
			if subs[s.Name] {
				return fmt.Errorf("%w: %s: subresource %q listed twice", ErrInvalidResource, id, s.Name)
			}
			subs[s.Name] = true
			if err := checkVerbs(s.Verbs); err != nil {
				return fmt.Errorf("%w: %s/%s: %w", ErrInvalidResource, id, s.Name, err)
			}
		}
	}
	return nil
}

func checkVerbs(verbs []string) error {
	for _, v := range verbs {
		if !slices.Contains(knownVerbs, v) {
			return fmt.Errorf("unknown verb %q (want one of %s)", v, strings.Join(knownVerbs, " "))
		}
	}
	return nil
}

// groupVersions returns the distinct group-versions of resources, sorted
// with the core group first.
func groupVersions(resources []Resource) []groupVersion {
	set := map[schema.GroupVersion]bool{}
	for _, r := range resources {
		set[schema.GroupVersion{Group: r.Group, Version: r.Version}] = true
	}
	out := make([]groupVersion, 0, len(set))
	for gv := range set {
		out = append(out, groupVersion{gv})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}
