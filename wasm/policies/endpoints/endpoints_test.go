package endpoints_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/endpoints"
)

// obj is a document under construction.
type obj map[string]any

func (o obj) set(v any, path ...string) obj {
	m := map[string]any(o)
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
	return o
}

func (o obj) raw() json.RawMessage {
	b, err := json.Marshal(o)
	if err != nil {
		panic(err)
	}
	return b
}

func service(mods ...func(obj)) obj {
	o := obj{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "web", "namespace": "default", "uid": "svc-uid", "labels": map[string]any{"app": "web"}},
		"spec": map[string]any{"selector": map[string]any{"app": "web"}, "clusterIP": "10.96.0.10", "ipFamilies": []any{"IPv4"},
			"ports": []any{map[string]any{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}}}}
	for _, m := range mods {
		m(o)
	}
	return o
}

func pod(name, ip string, ready bool, mods ...func(obj)) obj {
	st := "False"
	if ready {
		st = "True"
	}
	o := obj{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "default", "uid": name + "-uid", "labels": map[string]any{"app": "web"}},
		"spec": map[string]any{"nodeName": "n1", "containers": []any{map[string]any{"name": "c",
			"ports": []any{map[string]any{"name": "web", "containerPort": 9376, "protocol": "TCP"}}}}},
		"status": map[string]any{"phase": "Running", "podIP": ip, "podIPs": []any{map[string]any{"ip": ip}},
			"conditions": []any{map[string]any{"type": "Ready", "status": st}}}}
	for _, m := range mods {
		m(o)
	}
	return o
}

// world is the objects a reconcile sees and the writes applied to them, as the host would.
type world struct {
	t      *testing.T
	svc    obj
	pods   []obj
	owned  map[string]json.RawMessage // "Kind/name" → document
	writes int
	nextID int
	policy endpoints.Policy
}

func newWorld(t *testing.T, svc obj, pods ...obj) *world {
	return &world{t: t, svc: svc, pods: pods, owned: map[string]json.RawMessage{}}
}

func (w *world) request() *abi.ReconcileRequest {
	req := &abi.ReconcileRequest{Key: "default/web"}
	if w.svc != nil {
		req.Object = w.svc.raw()
	}
	keys := make([]string, 0, len(w.owned))
	for k := range w.owned {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		req.Owned = append(req.Owned, w.owned[k])
	}
	for _, p := range w.pods {
		req.Orphans = append(req.Orphans, p.raw())
	}
	return req
}

// reconcile runs the policy once and applies its actions.
func (w *world) reconcile() []abi.Action {
	w.t.Helper()
	res, err := w.policy.Reconcile(w.request())
	if err != nil {
		w.t.Fatal(err)
	}
	for _, a := range res.Actions {
		var h struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name, GenerateName, ResourceVersion string
			} `json:"metadata"`
		}
		if err := json.Unmarshal(a.Object, &h); err != nil {
			w.t.Fatal(err)
		}
		w.writes++
		w.nextID++
		switch a.Verb {
		case abi.VerbCreate:
			var o obj
			_ = json.Unmarshal(a.Object, &o)
			name := h.Metadata.Name
			if name == "" {
				name = fmt.Sprintf("%s%03d", h.Metadata.GenerateName, w.nextID)
				o.set(name, "metadata", "name")
			}
			if _, ok := w.owned[h.Kind+"/"+name]; ok {
				w.t.Fatalf("create of existing %s/%s", h.Kind, name)
			}
			o.set(name+"-uid", "metadata", "uid")
			o.set(fmt.Sprint(w.nextID), "metadata", "resourceVersion")
			w.owned[h.Kind+"/"+name] = o.raw()
		case abi.VerbUpdate:
			cur, ok := w.owned[h.Kind+"/"+h.Metadata.Name]
			if !ok {
				w.t.Fatalf("update of missing %s/%s", h.Kind, h.Metadata.Name)
			}
			var c obj
			_ = json.Unmarshal(cur, &c)
			if rv := h.Metadata.ResourceVersion; rv != "" && rv != c["metadata"].(map[string]any)["resourceVersion"] {
				w.t.Fatalf("update of %s/%s at resourceVersion %s: conflict", h.Kind, h.Metadata.Name, rv)
			}
			var o obj
			_ = json.Unmarshal(a.Object, &o)
			o.set(fmt.Sprint(w.nextID), "metadata", "resourceVersion")
			w.owned[h.Kind+"/"+h.Metadata.Name] = o.raw()
		case abi.VerbDelete:
			delete(w.owned, h.Kind+"/"+h.Metadata.Name)
		default:
			w.t.Fatalf("unexpected verb %s", a.Verb)
		}
	}
	return res.Actions
}

// converge reconciles until nothing is written (at most 3 rounds), and fails if the last round
// wrote anything.
func (w *world) converge() {
	w.t.Helper()
	w.reconcile()
	if a := w.reconcile(); len(a) != 0 {
		w.t.Fatalf("second reconcile wrote %d objects: %s", len(a), a[0].Object)
	}
}

type epView struct {
	Metadata struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Subsets []endpoints.EndpointSubset `json:"subsets"`
}

func (w *world) endpoints() *epView {
	w.t.Helper()
	b, ok := w.owned["Endpoints/web"]
	if !ok {
		return nil
	}
	v := &epView{}
	if err := json.Unmarshal(b, v); err != nil {
		w.t.Fatal(err)
	}
	return v
}

type sliceView struct {
	Metadata struct {
		Name            string            `json:"name"`
		GenerateName    string            `json:"generateName"`
		Labels          map[string]string `json:"labels"`
		OwnerReferences []struct {
			Kind, Name, UID string
			Controller      *bool
		} `json:"ownerReferences"`
	} `json:"metadata"`
	AddressType string                `json:"addressType"`
	Endpoints   []endpoints.Endpoint  `json:"endpoints"`
	Ports       []endpoints.SlicePort `json:"ports"`
}

func (w *world) slices() []sliceView {
	w.t.Helper()
	var out []sliceView
	for k, b := range w.owned {
		if !strings.HasPrefix(k, "EndpointSlice/") {
			continue
		}
		var v sliceView
		if err := json.Unmarshal(b, &v); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metadata.Name < out[j].Metadata.Name })
	return out
}

// addrs summarises subsets as "ready:ip:port ..." and "notready:ip:port ...".
func addrs(ss []endpoints.EndpointSubset) string {
	var out []string
	for _, s := range ss {
		for _, p := range s.Ports {
			for _, a := range s.Addresses {
				out = append(out, fmt.Sprintf("ready:%s:%d", a.IP, p.Port))
			}
			for _, a := range s.NotReadyAddresses {
				out = append(out, fmt.Sprintf("notready:%s:%d", a.IP, p.Port))
			}
		}
		if len(s.Ports) == 0 {
			for _, a := range s.Addresses {
				out = append(out, "ready:"+a.IP)
			}
			for _, a := range s.NotReadyAddresses {
				out = append(out, "notready:"+a.IP)
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// sliceEndpoints summarises slices as "ip:ready/serving/terminating" over all slices.
func sliceEndpoints(ss []sliceView) string {
	var out []string
	for _, s := range ss {
		for _, e := range s.Endpoints {
			out = append(out, fmt.Sprintf("%s:%v/%v/%v", strings.Join(e.Addresses, ","), *e.Conditions.Ready, *e.Conditions.Serving, *e.Conditions.Terminating))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func terminating(o obj) { o.set("2026-01-01T00:00:00Z", "metadata", "deletionTimestamp") }

func TestReconcile(t *testing.T) {
	tests := []struct {
		name       string
		svc        obj
		pods       []obj
		endpoints  string // addrs of the Endpoints; "-" for none
		slices     string // sliceEndpoints
		slicePorts int32  // port of the slices' first port (0: no ports)
	}{
		{name: "ready and not ready", svc: service(),
			pods:      []obj{pod("a", "10.0.0.1", true), pod("b", "10.0.0.2", false)},
			endpoints: "notready:10.0.0.2:8080 ready:10.0.0.1:8080", slices: "10.0.0.1:true/true/false 10.0.0.2:false/false/false", slicePorts: 8080},
		{name: "pods without an IP, terminal, or not selected are left out", svc: service(),
			pods: []obj{pod("a", "10.0.0.1", true), pod("noip", "", true), pod("done", "10.0.0.3", false, func(o obj) { o.set("Succeeded", "status", "phase") }),
				pod("other", "10.0.0.4", true, func(o obj) { o.set(map[string]any{"app": "other"}, "metadata", "labels") })},
			endpoints: "ready:10.0.0.1:8080", slices: "10.0.0.1:true/true/false", slicePorts: 8080},
		{name: "named target port", svc: service(func(o obj) {
			o.set([]any{map[string]any{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"}}, "spec", "ports")
		}),
			pods:      []obj{pod("a", "10.0.0.1", true)},
			endpoints: "ready:10.0.0.1:9376", slices: "10.0.0.1:true/true/false", slicePorts: 9376},
		{name: "terminating pod: in slices as terminating, not in Endpoints", svc: service(),
			pods:      []obj{pod("a", "10.0.0.1", true), pod("b", "10.0.0.2", true, terminating)},
			endpoints: "ready:10.0.0.1:8080", slices: "10.0.0.1:true/true/false 10.0.0.2:false/true/true", slicePorts: 8080},
		{name: "publishNotReadyAddresses", svc: service(func(o obj) { o.set(true, "spec", "publishNotReadyAddresses") }),
			pods:      []obj{pod("a", "10.0.0.1", false), pod("b", "10.0.0.2", true, terminating)},
			endpoints: "ready:10.0.0.1:8080 ready:10.0.0.2:8080", slices: "10.0.0.1:true/false/false 10.0.0.2:true/true/true", slicePorts: 8080},
		{name: "headless without ports", svc: service(func(o obj) {
			o.set("None", "spec", "clusterIP")
			o.set([]any{}, "spec", "ports")
		}),
			pods:      []obj{pod("a", "10.0.0.1", true)},
			endpoints: "ready:10.0.0.1", slices: "10.0.0.1:true/true/false"},
		{name: "no pods: empty Endpoints and a placeholder slice", svc: service(),
			endpoints: "", slices: ""},
		{name: "no selector: nothing", svc: service(func(o obj) { delete(o["spec"].(map[string]any), "selector") }),
			pods: []obj{pod("a", "10.0.0.1", true)}, endpoints: "-"},
		{name: "ExternalName: nothing", svc: service(func(o obj) { o.set("ExternalName", "spec", "type") }),
			pods: []obj{pod("a", "10.0.0.1", true)}, endpoints: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.svc, tt.pods...)
			w.converge()
			ep := w.endpoints()
			switch {
			case tt.endpoints == "-":
				if ep != nil || len(w.owned) != 0 {
					t.Fatalf("wrote %d objects, want none", len(w.owned))
				}
				return
			case ep == nil:
				t.Fatal("no Endpoints")
			}
			if got := addrs(ep.Subsets); got != tt.endpoints {
				t.Errorf("Endpoints %q, want %q", got, tt.endpoints)
			}
			if ep.Metadata.Labels["app"] != "web" {
				t.Errorf("Endpoints labels %v, want the service's", ep.Metadata.Labels)
			}
			for _, ss := range ep.Subsets {
				for _, a := range append(ss.Addresses, ss.NotReadyAddresses...) {
					if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.TargetRef.UID == "" || a.NodeName == nil || *a.NodeName != "n1" {
						t.Errorf("address %+v: want a targetRef to its pod and node n1", a)
					}
				}
			}
			sl := w.slices()
			if len(sl) != 1 {
				t.Fatalf("%d slices, want 1", len(sl))
			}
			s := sl[0]
			if got := sliceEndpoints(sl); got != tt.slices {
				t.Errorf("slice endpoints %q, want %q", got, tt.slices)
			}
			if s.AddressType != "IPv4" || s.Metadata.GenerateName != "web-" || s.Metadata.Labels[endpoints.LabelServiceName] != "web" ||
				s.Metadata.Labels[endpoints.LabelManagedBy] != endpoints.ControllerName || s.Metadata.Labels["app"] != "web" {
				t.Errorf("slice %s: addressType %s, generateName %q, labels %v", s.Metadata.Name, s.AddressType, s.Metadata.GenerateName, s.Metadata.Labels)
			}
			if r := s.Metadata.OwnerReferences; len(r) != 1 || r[0].Kind != "Service" || r[0].UID != "svc-uid" || r[0].Controller == nil || !*r[0].Controller {
				t.Errorf("slice owner references %+v, want the service as controller", r)
			}
			switch {
			case tt.slicePorts == 0 && len(s.Ports) != 0:
				t.Errorf("slice ports %+v, want none", s.Ports)
			case tt.slicePorts != 0 && (len(s.Ports) != 1 || *s.Ports[0].Port != tt.slicePorts || *s.Ports[0].Name != "http" || *s.Ports[0].Protocol != "TCP"):
				t.Errorf("slice ports %s, want http/TCP/%d", mustJSON(s.Ports), tt.slicePorts)
			}
			for _, e := range s.Endpoints {
				if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || e.NodeName == nil || *e.NodeName != "n1" {
					t.Errorf("endpoint %s: want a targetRef and node n1", mustJSON(e))
				}
			}
		})
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestSplitAndChurn(t *testing.T) {
	var pods []obj
	for i := range 250 {
		pods = append(pods, pod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.0.%d.%d", i/200, i%200+1), true))
	}
	w := newWorld(t, service(), pods...)
	w.converge()
	sizes := func() []int {
		var n []int
		for _, s := range w.slices() {
			n = append(n, len(s.Endpoints))
		}
		sort.Ints(n)
		return n
	}
	if got := sizes(); !slices.Equal(got, []int{50, 100, 100}) {
		t.Fatalf("slice sizes %v, want [50 100 100]", got)
	}
	if n := len(w.endpoints().Subsets[0].Addresses); n != 250 {
		t.Errorf("Endpoints has %d addresses, want 250", n)
	}

	// One pod becomes not ready: one slice and the Endpoints are rewritten, nothing else.
	w.pods[7] = pod("p007", "10.0.0.8", false)
	if a := w.reconcile(); len(a) != 2 {
		t.Fatalf("%d writes after one pod's readiness changed, want 2 (Endpoints and one slice)", len(a))
	}
	// One pod goes: one slice rewritten.
	w.pods = append(w.pods[:100], w.pods[101:]...)
	if a := w.reconcile(); len(a) != 2 {
		t.Fatalf("%d writes after a pod went, want 2", len(a))
	}
	// Every pod goes: one placeholder slice remains, reused rather than recreated.
	w.pods = nil
	w.converge()
	if got := sizes(); !slices.Equal(got, []int{0}) {
		t.Fatalf("slice sizes %v, want one empty placeholder", got)
	}
	if ep := w.endpoints(); len(ep.Subsets) != 0 {
		t.Errorf("Endpoints subsets %+v, want none", ep.Subsets)
	}
}

func TestOverCapacity(t *testing.T) {
	var pods []obj
	for i := range 1100 {
		pods = append(pods, pod(fmt.Sprintf("p%04d", i), fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), i%2 == 0))
	}
	w := newWorld(t, service(), pods...)
	w.converge()
	ep := w.endpoints()
	var ready, notReady int
	for _, s := range ep.Subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	if ready != 550 || notReady != 450 || ep.Metadata.Annotations[endpoints.AnnotationOverCapacity] != "truncated" {
		t.Errorf("%d ready, %d not ready, annotations %v; want 550, 450, truncated", ready, notReady, ep.Metadata.Annotations)
	}
	if n := len(w.slices()); n != 11 {
		t.Errorf("%d slices, want 11", n)
	}
}

func TestServiceChanges(t *testing.T) {
	w := newWorld(t, service(), pod("a", "10.0.0.1", true))
	w.converge()
	first := w.slices()[0].Metadata.Name

	t.Run("labels follow the service", func(t *testing.T) {
		w.svc.set(map[string]any{"app": "web", "tier": "front"}, "metadata", "labels")
		w.converge()
		if l := w.endpoints().Metadata.Labels; l["tier"] != "front" {
			t.Errorf("Endpoints labels %v", l)
		}
		if l := w.slices()[0].Metadata.Labels; l["tier"] != "front" || l[endpoints.LabelServiceName] != "web" {
			t.Errorf("slice labels %v", l)
		}
	})
	t.Run("a new port rewrites the slice in place", func(t *testing.T) {
		w.svc.set([]any{map[string]any{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8081}}, "spec", "ports")
		w.converge()
		sl := w.slices()
		if len(sl) != 1 || sl[0].Metadata.Name != first || *sl[0].Ports[0].Port != 8081 {
			t.Errorf("slices %s, want %s reused with port 8081", mustJSON(sl), first)
		}
		if got := addrs(w.endpoints().Subsets); got != "ready:10.0.0.1:8081" {
			t.Errorf("Endpoints %q", got)
		}
	})
	t.Run("a slice of an older service of the same name is replaced", func(t *testing.T) {
		w.svc.set("svc-uid-2", "metadata", "uid")
		w.converge()
		sl := w.slices()
		if len(sl) != 1 || sl[0].Metadata.OwnerReferences[0].UID != "svc-uid-2" {
			t.Errorf("slices %s, want one owned by the new service", mustJSON(sl))
		}
	})
	t.Run("selector removed: left alone", func(t *testing.T) {
		delete(w.svc["spec"].(map[string]any), "selector")
		if a := w.reconcile(); len(a) != 0 {
			t.Errorf("%d writes for a service without selector", len(a))
		}
	})
	t.Run("service deleted: Endpoints deleted", func(t *testing.T) {
		w.svc = nil
		a := w.reconcile()
		if len(a) != 1 || a[0].Verb != abi.VerbDelete || w.endpoints() != nil {
			t.Errorf("actions %+v, want the Endpoints deleted", a)
		}
	})
}
