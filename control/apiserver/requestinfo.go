package apiserver

import (
	"net/http"
	"strings"
)

// requestInfo is what a resource URL names, parsed as kube-apiserver's
// RequestInfoFactory does.
type requestInfo struct {
	Group, Version string
	Namespace      string
	Resource       string
	Name           string
	Subresource    string
	// Verb is one of get, list, watch, create, update, patch, delete,
	// deletecollection.
	Verb string
}

// namespaceSubresources are the subresources of a namespace itself, which
// /namespaces/{name}/{x} names instead of a resource in the namespace.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// parseRequestInfo parses /api/v1/... and /apis/{group}/{version}/...; ok is
// false for any other path or a path without a resource.
func parseRequestInfo(r *http.Request) (requestInfo, bool) {
	var info requestInfo
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		info.Version, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		info.Group, info.Version, parts = parts[1], parts[2], parts[3:]
	default:
		return info, false
	}
	watchPath := false
	if parts[0] == "watch" {
		watchPath, parts = true, parts[1:]
	}
	if len(parts) >= 2 && parts[0] == "namespaces" {
		info.Namespace = parts[1]
		if len(parts) > 2 && !namespaceSubresources[parts[2]] {
			parts = parts[2:]
		} else {
			// The namespace object itself: its name is the namespace.
			parts = append([]string{"namespaces", parts[1]}, parts[2:]...)
			info.Namespace = ""
		}
	}
	if len(parts) == 0 || parts[0] == "" {
		return info, false
	}
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = parts[2]
	}
	if len(parts) > 3 {
		return info, false
	}
	q := r.URL.Query()
	isWatch := watchPath || q.Get("watch") == "true" || q.Get("watch") == "1"
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case isWatch:
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		info.Verb = "delete"
		if info.Name == "" {
			info.Verb = "deletecollection"
		}
	}
	return info, true
}
