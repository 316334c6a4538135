package apiserver

import (
	"encoding/json"
	"net/http"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/control/registry"
)

// discovery holds the discovery documents, built once from the resources.
type discovery struct {
	core   *metav1.APIVersions
	groups *metav1.APIGroupList
	// lists by path: "/api/v1", "/apis/apps/v1".
	lists map[string]*metav1.APIResourceList
}

var (
	verbsAll    = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	verbsStatus = metav1.Verbs{"get", "patch", "update"}
)

func newDiscovery(reg *registry.Registry) *discovery {
	d := &discovery{
		core:   &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}},
		groups: &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}},
		lists:  map[string]*metav1.APIResourceList{},
	}
	d.core.ServerAddressByClientCIDRs = []metav1.ServerAddressByClientCIDR{}
	var groupOrder []schema.GroupVersion
	for _, st := range reg.Stores() {
		r := st.Resource()
		gv := r.Kind.GroupVersion()
		path := "/apis/" + gv.String()
		if gv.Group == "" {
			path = "/api/" + gv.Version
		}
		list := d.lists[path]
		if list == nil {
			list = &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
			d.lists[path] = list
			if gv.Group != "" {
				groupOrder = append(groupOrder, gv)
			}
		}
		list.APIResources = append(list.APIResources, apiResources(r)...)
	}
	for _, gv := range groupOrder {
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		d.groups.Groups = append(d.groups.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
	}
	for _, l := range d.lists {
		sort.SliceStable(l.APIResources, func(i, j int) bool { return l.APIResources[i].Name < l.APIResources[j].Name })
	}
	return d
}

// apiResources is a resource's discovery entries: itself and its
// subresources.
func apiResources(r *registry.Resource) []metav1.APIResource {
	main := metav1.APIResource{
		Name: r.Plural, SingularName: r.Singular, Namespaced: r.Namespaced, Kind: r.Kind.Kind,
		Verbs: verbsAll, ShortNames: r.ShortNames, Categories: r.Categories,
	}
	out := []metav1.APIResource{main}
	sub := func(name, kind string, verbs metav1.Verbs) metav1.APIResource {
		return metav1.APIResource{Name: r.Plural + "/" + name, Namespaced: r.Namespaced, Kind: kind, Verbs: verbs}
	}
	if r.Status {
		out = append(out, sub("status", r.Kind.Kind, verbsStatus))
	}
	switch r.Kind.Kind {
	case "Deployment", "ReplicaSet":
		sc := sub("scale", "Scale", verbsStatus)
		sc.Group, sc.Version = "autoscaling", "v1"
		out = append(out, sc)
	case "Pod":
		out = append(out, sub("binding", "Binding", metav1.Verbs{"create"}), sub("log", "Pod", metav1.Verbs{"get"}))
	case "Namespace":
		out = append(out, sub("finalize", "Namespace", metav1.Verbs{"update"}))
	}
	return out
}

// serve answers the discovery paths; it reports false for other paths.
func (d *discovery) serve(w http.ResponseWriter, r *http.Request) bool {
	var doc any
	switch p := r.URL.Path; {
	case p == "/api" || p == "/api/":
		v := *d.core
		v.ServerAddressByClientCIDRs = []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}}
		doc = &v
	case p == "/apis" || p == "/apis/":
		doc = d.groups
	default:
		l, ok := d.lists[trimSlash(p)]
		if !ok {
			g, ok := d.group(trimSlash(p))
			if !ok {
				return false
			}
			doc = g
			break
		}
		doc = l
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeStatus(w, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, "discovery is read-only")
		return true
	}
	w.Header().Set("Content-Type", mediaJSON)
	_ = json.NewEncoder(w).Encode(doc)
	return true
}

// group answers /apis/{group}.
func (d *discovery) group(path string) (*metav1.APIGroup, bool) {
	for _, g := range d.groups.Groups {
		if path == "/apis/"+g.Name {
			out := g
			out.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
			return &out, true
		}
	}
	return nil, false
}

func trimSlash(p string) string {
	for len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}
