package apiserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/control/api/openapi"
)

// nodeReadable are the resources a node may get, list and watch (with their
// status): what its pods need and what it watches to run them.
var nodeReadable = map[schema.GroupResource]bool{
	{Resource: "nodes"}:     true,
	{Resource: "pods"}:      true,
	{Resource: "services"}:  true,
	{Resource: "endpoints"}: true,
	{Group: "discovery.k8s.io", Resource: "endpointslices"}: true,
	{Resource: "configmaps"}:                                true,
	{Resource: "secrets"}:                                   true,
	{Resource: "namespaces"}:                                true,
	{Group: "coordination.k8s.io", Resource: "leases"}:      true,
	{Resource: "events"}:                                    true,
	{Group: "events.k8s.io", Resource: "events"}:            true,
}

var (
	nodesGR  = schema.GroupResource{Resource: "nodes"}
	podsGR   = schema.GroupResource{Resource: "pods"}
	leasesGR = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
)

func isEvents(gr schema.GroupResource) bool {
	return gr.Resource == "events" && (gr.Group == "" || gr.Group == "events.k8s.io")
}

// authorizeNode is Skiff's Node authorizer with NodeRestriction's checks,
// simplified. Node NAME may:
//   - get, list and watch nodeReadable (and their status), not filtered by
//     node (Kubernetes' Node authorizer would limit secrets, configmaps and
//     pods to those of its pods; Skiff's does not);
//   - create, update and patch its own Node and its status;
//   - create and update its own Lease in kube-node-lease;
//   - update and patch the status of pods bound to it, and delete them
//     (spec.nodeName == NAME in the stored pod);
//   - create and patch events;
//   - read discovery, OpenAPI, /version, the health checks and the members.
//
// Anything else is a 403, worded as kube-apiserver words it.
func (s *Server) authorizeNode(r *http.Request, u user) error {
	info, ok := parseRequestInfo(r)
	if !ok {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && nodeMayReadPath(r.URL.Path) {
			return nil
		}
		return apierrors.NewForbidden(schema.GroupResource{}, "", fmt.Errorf("User %q cannot %s path %q", u.name, strings.ToLower(r.Method), r.URL.Path))
	}
	gr := schema.GroupResource{Group: info.Group, Resource: info.Resource}
	sub := info.Subresource
	switch info.Verb {
	case "get", "list", "watch":
		if nodeReadable[gr] && (sub == "" || sub == "status") {
			return nil
		}
	case "create":
		switch {
		case isEvents(gr) && sub == "":
			return nil
		case gr == nodesGR && sub == "":
			name, err := nameInBody(r, schema.GroupVersionKind{Version: info.Version, Kind: "Node"}, &corev1.Node{})
			if err != nil {
				return err
			}
			if name != u.node {
				return forbidden(u, info, fmt.Sprintf("node %q is not allowed to modify node %q", u.node, name))
			}
			return nil
		case gr == leasesGR && sub == "":
			name, err := nameInBody(r, coordinationv1.SchemeGroupVersion.WithKind("Lease"), &coordinationv1.Lease{})
			if err != nil {
				return err
			}
			if info.Namespace != corev1.NamespaceNodeLease || name != u.node {
				return forbidden(u, info, "can only access node lease with the same name as the requesting node")
			}
			return nil
		}
	case "update", "patch":
		switch {
		case gr == nodesGR && (sub == "" || sub == "status"):
			if info.Name != u.node {
				return forbidden(u, info, fmt.Sprintf("node %q is not allowed to modify node %q", u.node, info.Name))
			}
			return nil
		case gr == leasesGR && sub == "" && info.Verb == "update":
			if info.Namespace != corev1.NamespaceNodeLease || info.Name != u.node {
				return forbidden(u, info, "can only access node lease with the same name as the requesting node")
			}
			return nil
		case gr == podsGR && sub == "status":
			return s.podBoundTo(r, u, info, "can only update pod status for pods with spec.nodeName set to itself")
		case isEvents(gr) && sub == "" && info.Verb == "patch":
			return nil
		}
	case "delete":
		if gr == podsGR && sub == "" {
			return s.podBoundTo(r, u, info, "can only delete pods with spec.nodeName set to itself")
		}
	}
	return forbidden(u, info, fmt.Sprintf("node %q may not %s it (Node authorizer)", u.node, info.Verb))
}

// podBoundTo allows the request if the stored pod it names is bound to the
// node; a missing pod is a 404, as NodeRestriction answers.
func (s *Server) podBoundTo(r *http.Request, u user, info requestInfo, reason string) error {
	pods := s.cfg.Registry.Store(schema.GroupVersionResource{Version: info.Version, Resource: "pods"})
	if pods == nil {
		return apierrors.NewNotFound(podsGR, info.Name)
	}
	obj, err := pods.Get(r.Context(), info.Namespace, info.Name)
	if err != nil {
		return err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("stored pod %s/%s is a %T", info.Namespace, info.Name, obj))
	}
	if pod.Spec.NodeName != u.node {
		return forbidden(u, info, fmt.Sprintf("node %q %s", u.node, reason))
	}
	return nil
}

// nodeMayReadPath reports the non-resource paths a node may read:
// discovery, OpenAPI, version, health and the members list (for failover).
func nodeMayReadPath(path string) bool {
	switch path {
	case "/api", "/apis", "/version", "/healthz", "/livez", "/readyz", MembersPath, openapi.V2Path, openapi.V3Path:
		return true
	}
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/apis/") || strings.HasPrefix(path, openapi.V3Path+"/")
}

// forbidden is kube-apiserver's 403 for a resource request.
func forbidden(u user, info requestInfo, reason string) error {
	resource := info.Resource
	if info.Subresource != "" {
		resource += "/" + info.Subresource
	}
	var msg string
	if info.Namespace != "" {
		msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", u.name, info.Verb, resource, info.Group, info.Namespace)
	} else {
		msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", u.name, info.Verb, resource, info.Group)
	}
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: info.Group, Resource: info.Resource}, info.Name, errors.New(msg))
}

// nameInBody decodes the body of a create as want to read its name, and
// puts the body back for the handler.
func nameInBody(r *http.Request, want schema.GroupVersionKind, into runtime.Object) (string, error) {
	body, err := readBody(r)
	if err != nil {
		return "", err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	obj, _, err := decodeBody(body, r.Header.Get("Content-Type"), want, into, metav1.FieldValidationIgnore)
	if err != nil {
		return "", err
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return "", apierrors.NewBadRequest(fmt.Sprintf("a %s without metadata", want.Kind))
	}
	return m.GetName(), nil
}
