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
	"k8s.io/apimachinery/pkg/fields"
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
	{Resource: "namespaces"}:                                true,
	{Group: "coordination.k8s.io", Resource: "leases"}:      true,
	{Resource: "events"}:                                    true,
	{Group: "events.k8s.io", Resource: "events"}:            true,
}

// nodeReferenced are read only one object at a time, and only when a pod bound to the
// node refers to it (volumes, env, envFrom, imagePullSecrets), as Kubernetes' Node
// authorizer allows.
var nodeReferenced = map[schema.GroupResource]bool{
	{Resource: "configmaps"}: true,
	{Resource: "secrets"}:    true,
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
//   - get, list and watch nodeReadable (and their status);
//   - get a Secret or ConfigMap that a pod bound to it refers to (list and
//     watch only of that one object, by metadata.name), as Kubernetes' Node
//     authorizer; pods are readable whatever their node, as there;
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
		if nodeReferenced[gr] && sub == "" {
			return s.referencedByItsPods(r, u, info)
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

// referencedByItsPods allows reading one Secret or ConfigMap (a get, or a list or watch
// selecting it by metadata.name) that a pod bound to the node refers to.
func (s *Server) referencedByItsPods(r *http.Request, u user, info requestInfo) error {
	name := info.Name
	if info.Verb != "get" {
		sel, err := fields.ParseSelector(r.URL.Query().Get("fieldSelector"))
		if err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("fieldSelector: %v", err))
		}
		name, _ = sel.RequiresExactMatch("metadata.name")
	}
	if name == "" || info.Namespace == "" {
		return forbidden(u, info, fmt.Sprintf("node %q may read a %s only by name, one its pods refer to", u.node, info.Resource))
	}
	pods := s.cfg.Registry.Store(corev1.SchemeGroupVersion.WithResource("pods"))
	if pods == nil {
		return forbidden(u, info, "no pods to refer to it")
	}
	list, err := pods.List(r.Context(), info.Namespace, metav1.ListOptions{FieldSelector: "spec.nodeName=" + u.node})
	if err != nil {
		return err
	}
	pl, ok := list.(*corev1.PodList)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("pod list is a %T", list))
	}
	for i := range pl.Items {
		if refersTo(&pl.Items[i], info.Resource, name) {
			return nil
		}
	}
	return forbidden(u, info, fmt.Sprintf("no relationship found between node %q and this object", u.node))
}

// refersTo reports whether the pod uses the named Secret or ConfigMap (resource "secrets" or
// "configmaps"): in a volume (projected ones too), an env or envFrom source, or (secrets) an
// image pull secret.
func refersTo(p *corev1.Pod, resource, name string) bool {
	secret := resource == "secrets"
	if secret {
		for _, ref := range p.Spec.ImagePullSecrets {
			if ref.Name == name {
				return true
			}
		}
	}
	for _, v := range p.Spec.Volumes {
		switch {
		case secret && v.Secret != nil && v.Secret.SecretName == name,
			!secret && v.ConfigMap != nil && v.ConfigMap.Name == name:
			return true
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if (secret && src.Secret != nil && src.Secret.Name == name) || (!secret && src.ConfigMap != nil && src.ConfigMap.Name == name) {
					return true
				}
			}
		}
	}
	var containers []corev1.Container
	containers = append(containers, p.Spec.InitContainers...)
	containers = append(containers, p.Spec.Containers...)
	for _, c := range containers {
		for _, e := range c.EnvFrom {
			if (secret && e.SecretRef != nil && e.SecretRef.Name == name) || (!secret && e.ConfigMapRef != nil && e.ConfigMapRef.Name == name) {
				return true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if (secret && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == name) ||
				(!secret && e.ValueFrom.ConfigMapKeyRef != nil && e.ValueFrom.ConfigMapKeyRef.Name == name) {
				return true
			}
		}
	}
	return false
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
