// Package endpoints is the built-in policy of the endpoints and endpointslice controllers, a
// port of Kubernetes' pkg/controller/endpoint and k8s.io/endpointslice's reconciler as one pure
// function for the reconcile hook (../../ABI.md). One call reconciles one Service:
//
//   - Input: the Service (absent once deleted); in Owned its Endpoints (same name) and the
//     EndpointSlices labelled kubernetes.io/service-name=<service>; in Orphans the pods of its
//     namespace that its selector selects. Objects are told apart by kind, so which list an
//     object arrives in does not matter.
//   - Endpoints: the selected pods that have an IP and are not terminal (Succeeded/Failed) and,
//     unless publishNotReadyAddresses, not terminating, as addresses (ready) or
//     notReadyAddresses, with ports resolved from each service port's targetPort (a number, or
//     a container port name), a targetRef to the pod and its nodeName; subsets repacked into
//     the canonical form; labels copied from the Service (plus service.kubernetes.io/headless
//     for a headless one); at most 1000 addresses (endpoints.kubernetes.io/over-capacity).
//   - EndpointSlices (discovery.k8s.io/v1, one address type per service IP family): every
//     selected pod with an IP and not terminal, with conditions ready, serving and terminating,
//     at most MaxEndpointsPerSlice endpoints per slice, grouped by resolved ports, labelled
//     with the service's labels, kubernetes.io/service-name and
//     endpointslice.kubernetes.io/managed-by, and controlled by the Service (garbage collected
//     with it). Slices are filled and reused as the reconciler does, so a change rewrites as
//     few slices as it can; a service without endpoints keeps one empty placeholder slice.
//   - Nothing is written when nothing changed. A Service without a selector, or of type
//     ExternalName, is left alone (users manage its endpoints); when a Service is gone, its
//     Endpoints are deleted.
//
// Where Kubernetes picks in map order, this policy picks in a fixed order (pods by name, slices
// by name), so that the module and a native run answer the same. Not ported: topology hints and
// zones (no node informer), the last-change-trigger-time annotation, and the leader-election
// exception of the leftover check (the host only asks about Endpoints of deleted Services).
package endpoints

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/internal/kobj"
)

// Well-known names.
const (
	// LabelServiceName names an EndpointSlice's Service (discovery.LabelServiceName).
	LabelServiceName = "kubernetes.io/service-name"
	// LabelManagedBy names an EndpointSlice's controller (discovery.LabelManagedBy).
	LabelManagedBy = "endpointslice.kubernetes.io/managed-by"
	// ControllerName is this controller's LabelManagedBy value.
	ControllerName = "endpointslice-controller.k8s.io"
	// LabelHeadless marks the Endpoints and slices of a headless Service (v1.IsHeadlessService).
	LabelHeadless = "service.kubernetes.io/headless"
	// AnnotationOverCapacity is set to "truncated" on Endpoints cut to MaxEndpoints addresses.
	AnnotationOverCapacity = "endpoints.kubernetes.io/over-capacity"
	// MaxEndpoints is the most addresses an Endpoints object holds (the endpoints
	// controller's maxCapacity).
	MaxEndpoints = 1000
	// MaxEndpointsPerSlice is kube-controller-manager's default --max-endpoints-per-slice.
	MaxEndpointsPerSlice = 100
)

// Policy is the endpoints and endpointslice controller policy; it implements sdk.Reconciler.
type Policy struct {
	// MaxEndpointsPerSlice overrides the default (tests); 0 means MaxEndpointsPerSlice.
	MaxEndpointsPerSlice int
}

// inputs are the request's objects sorted by kind.
type inputs struct {
	endpoints *Endpoints
	slices    []*Slice
	pods      []*Pod
}

func classify(raw []json.RawMessage, in *inputs) error {
	for _, b := range raw {
		var h struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(b, &h); err != nil {
			return fmt.Errorf("decode object kind: %w", err)
		}
		switch h.Kind {
		case "Endpoints":
			ep, err := decodeEndpoints(b)
			if err != nil {
				return err
			}
			in.endpoints = ep
		case "EndpointSlice":
			s, err := decodeSlice(b)
			if err != nil {
				return err
			}
			in.slices = append(in.slices, s)
		case "Pod":
			p, err := decodePod(b)
			if err != nil {
				return err
			}
			in.pods = append(in.pods, p)
		default:
			return fmt.Errorf("unexpected %q object", h.Kind)
		}
	}
	return nil
}

// Reconcile answers the writes for one Service.
func (p Policy) Reconcile(req *abi.ReconcileRequest) (*abi.ReconcileResult, error) {
	res := &abi.ReconcileResult{}
	var in inputs
	if err := classify(req.Owned, &in); err != nil {
		return nil, fmt.Errorf("%s: %w", req.Key, err)
	}
	if err := classify(req.Orphans, &in); err != nil {
		return nil, fmt.Errorf("%s: %w", req.Key, err)
	}
	if len(req.Object) == 0 {
		// Deleted: its Endpoints go (its slices go with it through their ownerReference).
		if in.endpoints != nil {
			res.Actions = append(res.Actions, abi.Action{Verb: abi.VerbDelete, Object: in.endpoints.Ref(false)})
		}
		return res, nil
	}
	svc, err := decodeService(req.Object)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Key, err)
	}
	if svc.Spec.Type == "ExternalName" || len(svc.Spec.Selector) == 0 {
		// No endpoints from the controllers: users write them.
		return res, nil
	}
	var pods []*Pod
	for _, pod := range in.pods {
		if pod.Meta.Namespace == svc.Meta.Namespace && svc.selects(pod.Meta.Labels) {
			pods = append(pods, pod)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Meta.Name < pods[j].Meta.Name })

	if a, ok := reconcileEndpoints(svc, pods, in.endpoints); ok {
		res.Actions = append(res.Actions, a)
	}
	max := p.MaxEndpointsPerSlice
	if max <= 0 {
		max = MaxEndpointsPerSlice
	}
	res.Actions = append(res.Actions, reconcileSlices(svc, pods, in.slices, max)...)
	return res, nil
}

// EndpointAddress is core/v1 EndpointAddress.
type EndpointAddress struct {
	IP        string           `json:"ip"`
	Hostname  string           `json:"hostname,omitempty"`
	NodeName  *string          `json:"nodeName,omitempty"`
	TargetRef *ObjectReference `json:"targetRef,omitempty"`
}

// EndpointPort is core/v1 EndpointPort.
type EndpointPort struct {
	Name        string  `json:"name,omitempty"`
	Port        int32   `json:"port"`
	Protocol    string  `json:"protocol,omitempty"`
	AppProtocol *string `json:"appProtocol,omitempty"`
}

// EndpointSubset is core/v1 EndpointSubset.
type EndpointSubset struct {
	Addresses         []EndpointAddress `json:"addresses,omitempty"`
	NotReadyAddresses []EndpointAddress `json:"notReadyAddresses,omitempty"`
	Ports             []EndpointPort    `json:"ports,omitempty"`
}

// Endpoints is a core/v1 Endpoints.
type Endpoints struct {
	kobj.Object
	Subsets []EndpointSubset `json:"subsets,omitempty"`
}

func decodeEndpoints(b []byte) (*Endpoints, error) {
	e := &Endpoints{}
	if err := decodeObject(b, &e.Object, e); err != nil {
		return nil, fmt.Errorf("decode endpoints: %w", err)
	}
	return e, nil
}

// primaryFamily is the IP family of the Endpoints addresses: the service's first family, else
// that of its cluster IP, else IPv4.
func primaryFamily(svc *Service) string {
	if len(svc.Spec.IPFamilies) > 0 {
		return svc.Spec.IPFamilies[0]
	}
	if a, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && a.Is6() && !a.Is4In6() {
		return "IPv6"
	}
	return "IPv4"
}

// addressFor is podToEndpointAddressForService: the pod's address of the service's family.
func addressFor(svc *Service, pod *Pod) (EndpointAddress, bool) {
	want6 := primaryFamily(svc) == "IPv6"
	for _, ip := range pod.ips() {
		if ip.Is6() == want6 {
			node := pod.Spec.NodeName
			a := EndpointAddress{IP: ip.String(), NodeName: &node, TargetRef: pod.ref()}
			if pod.setHostname(svc) {
				a.Hostname = pod.Spec.Hostname
			}
			return a, true
		}
	}
	return EndpointAddress{}, false
}

// desiredSubsets is the subsets computation of the endpoints controller's syncService.
func desiredSubsets(svc *Service, pods []*Pod) []EndpointSubset {
	var subsets []EndpointSubset
	publish := svc.Spec.PublishNotReadyAddresses
	add := func(pod *Pod, a EndpointAddress, port *EndpointPort) {
		ss := EndpointSubset{}
		if port != nil {
			ss.Ports = []EndpointPort{*port}
		}
		if publish || pod.Pod.Ready() {
			ss.Addresses = []EndpointAddress{a}
		} else {
			ss.NotReadyAddresses = []EndpointAddress{a}
		}
		subsets = append(subsets, ss)
	}
	for _, pod := range pods {
		if !pod.shouldBeInEndpoints(publish) {
			continue
		}
		a, ok := addressFor(svc, pod)
		if !ok {
			continue
		}
		if len(svc.Spec.Ports) == 0 {
			// A headless service may have no ports.
			if svc.headless() {
				add(pod, a, nil)
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, ok := findPort(pod, sp)
			if !ok {
				continue
			}
			add(pod, a, &EndpointPort{Name: sp.Name, Port: n, Protocol: protocol(sp.Protocol), AppProtocol: sp.AppProtocol})
		}
	}
	return repack(subsets)
}

// repack is endpoints.RepackSubsets: expand to (address, port) pairs, then group the addresses
// by the set of ports they serve. An address not ready on a port is not ready there. The result
// is sorted: addresses by IP then pod UID, ports and subsets by their encoding.
func repack(subsets []EndpointSubset) []EndpointSubset {
	type addrKey struct{ ip, uid string }
	addrs := map[addrKey]*EndpointAddress{}
	var addrOrder []addrKey
	// port (encoded; "" is the no-port sentinel) → address → ready
	byPort := map[string]map[addrKey]bool{}
	ports := map[string]*EndpointPort{}
	var portOrder []string
	mapAddr := func(a *EndpointAddress, port string, ready bool) {
		k := addrKey{ip: a.IP}
		if a.TargetRef != nil {
			k.uid = a.TargetRef.UID
		}
		if addrs[k] == nil {
			c := *a
			addrs[k] = &c
			addrOrder = append(addrOrder, k)
		}
		m := byPort[port]
		if m == nil {
			m = map[addrKey]bool{}
			byPort[port] = m
			portOrder = append(portOrder, port)
		}
		if was, found := m[k]; !found || was {
			m[k] = ready
		}
	}
	for i := range subsets {
		ss := &subsets[i]
		keys := []string{""}
		if len(ss.Ports) > 0 {
			keys = keys[:0]
			for j := range ss.Ports {
				k := string(mustJSON(ss.Ports[j]))
				ports[k] = &ss.Ports[j]
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			for j := range ss.Addresses {
				mapAddr(&ss.Addresses[j], k, true)
			}
			for j := range ss.NotReadyAddresses {
				mapAddr(&ss.NotReadyAddresses[j], k, false)
			}
		}
	}
	// Group ports by the (address, ready) set they map to.
	type group struct {
		set   map[addrKey]bool
		ports []EndpointPort
	}
	groups := map[string]*group{}
	var groupOrder []string
	for _, port := range portOrder {
		set := byPort[port]
		var sig []string
		for _, k := range addrOrder {
			if r, ok := set[k]; ok {
				sig = append(sig, fmt.Sprintf("%s/%s/%v", k.ip, k.uid, r))
			}
		}
		sort.Strings(sig)
		key := strings.Join(sig, ",")
		g := groups[key]
		if g == nil {
			g = &group{set: set}
			groups[key] = g
			groupOrder = append(groupOrder, key)
		}
		if port != "" {
			g.ports = append(g.ports, *ports[port])
		}
	}
	var out []EndpointSubset
	for _, key := range groupOrder {
		g := groups[key]
		ss := EndpointSubset{Ports: g.ports}
		for _, k := range addrOrder {
			ready, ok := g.set[k]
			switch {
			case !ok:
			case ready:
				ss.Addresses = append(ss.Addresses, *addrs[k])
			default:
				ss.NotReadyAddresses = append(ss.NotReadyAddresses, *addrs[k])
			}
		}
		sortAddresses(ss.Addresses)
		sortAddresses(ss.NotReadyAddresses)
		sort.SliceStable(ss.Ports, func(i, j int) bool { return string(mustJSON(ss.Ports[i])) < string(mustJSON(ss.Ports[j])) })
		out = append(out, ss)
	}
	sort.SliceStable(out, func(i, j int) bool { return string(mustJSON(out[i])) < string(mustJSON(out[j])) })
	return out
}

// sameJSON compares two lists by their encoding, an empty list and none alike.
func sameJSON[T any](a, b []T) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return string(mustJSON(a)) == string(mustJSON(b))
}

func sortAddresses(a []EndpointAddress) {
	uid := func(x EndpointAddress) string {
		if x.TargetRef == nil {
			return ""
		}
		return x.TargetRef.UID
	}
	sort.SliceStable(a, func(i, j int) bool {
		if a[i].IP != a[j].IP {
			return a[i].IP < a[j].IP
		}
		return uid(a[i]) < uid(a[j])
	})
}

// truncate is truncateEndpoints: cut the subsets to MaxEndpoints addresses, keeping ready
// addresses first, each subset in proportion to its size. It reports whether it cut.
func truncate(subsets []EndpointSubset) bool {
	var ready, notReady int
	for _, ss := range subsets {
		ready += len(ss.Addresses)
		notReady += len(ss.NotReadyAddresses)
	}
	if ready+notReady <= MaxEndpoints {
		return false
	}
	truncateReady := ready > MaxEndpoints
	max, total := MaxEndpoints-ready, notReady
	if truncateReady {
		max, total = MaxEndpoints, ready
	}
	canBeAdded := max
	for i := range subsets {
		ss := &subsets[i]
		n := len(ss.NotReadyAddresses)
		if truncateReady {
			n = len(ss.Addresses)
		}
		keep := int(math.Floor(float64(n) / float64(total) * float64(max)))
		if i == len(subsets)-1 {
			keep = canBeAdded
		}
		if truncateReady {
			if len(ss.Addresses) > keep {
				ss.Addresses = ss.Addresses[:keep]
			}
			ss.NotReadyAddresses = nil
			canBeAdded -= len(ss.Addresses)
		} else {
			if len(ss.NotReadyAddresses) > keep {
				ss.NotReadyAddresses = ss.NotReadyAddresses[:keep]
			}
			canBeAdded -= len(ss.NotReadyAddresses)
		}
	}
	return true
}

// endpointsLabels are the service's labels, with the headless label set as the service is.
func endpointsLabels(svc *Service) map[string]string {
	l := make(map[string]string, len(svc.Meta.Labels)+1)
	for k, v := range svc.Meta.Labels {
		if k != LabelHeadless {
			l[k] = v
		}
	}
	if !svc.ipSet() {
		l[LabelHeadless] = ""
	}
	return l
}

// reconcileEndpoints answers the write of the service's Endpoints, if it must change.
func reconcileEndpoints(svc *Service, pods []*Pod, cur *Endpoints) (abi.Action, bool) {
	subsets := desiredSubsets(svc, pods)
	truncated := truncate(subsets)
	labels := endpointsLabels(svc)
	if cur != nil {
		_, over := cur.Meta.Annotations[AnnotationOverCapacity]
		if sameJSON(cur.Subsets, subsets) && labelsEqual(cur.Meta.Labels, labels) && over == truncated {
			return abi.Action{}, false
		}
		cur.Set(subsets, "subsets")
		if len(subsets) == 0 {
			cur.Set(nil, "subsets")
		}
		cur.Set(labels, "metadata", "labels")
		ann := map[string]string{}
		for k, v := range cur.Meta.Annotations {
			if k != AnnotationOverCapacity {
				ann[k] = v
			}
		}
		if truncated {
			ann[AnnotationOverCapacity] = "truncated"
		}
		cur.SetAnnotations(ann)
		return abi.Action{Verb: abi.VerbUpdate, Object: cur.JSON()}, true
	}
	md := map[string]any{"name": svc.Meta.Name, "namespace": svc.Meta.Namespace, "labels": labels}
	if truncated {
		md["annotations"] = map[string]string{AnnotationOverCapacity: "truncated"}
	}
	doc := map[string]any{"apiVersion": "v1", "kind": "Endpoints", "metadata": md}
	if len(subsets) > 0 {
		doc["subsets"] = subsets
	}
	return abi.Action{Verb: abi.VerbCreate, Object: mustJSON(doc)}, true
}
