package endpoints

import (
	"fmt"
	"sort"
	"strings"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/internal/kobj"
)

// SlicePort is discovery/v1 EndpointPort.
type SlicePort struct {
	Name        *string `json:"name,omitempty"`
	Protocol    *string `json:"protocol,omitempty"`
	Port        *int32  `json:"port,omitempty"`
	AppProtocol *string `json:"appProtocol,omitempty"`
}

// Conditions is discovery/v1 EndpointConditions.
type Conditions struct {
	Ready       *bool `json:"ready,omitempty"`
	Serving     *bool `json:"serving,omitempty"`
	Terminating *bool `json:"terminating,omitempty"`
}

// Endpoint is discovery/v1 Endpoint, without the topology fields this controller does not
// write (hints, deprecatedTopology): they are dropped when a slice is rewritten.
type Endpoint struct {
	Addresses  []string         `json:"addresses"`
	Conditions Conditions       `json:"conditions"`
	Hostname   *string          `json:"hostname,omitempty"`
	TargetRef  *ObjectReference `json:"targetRef,omitempty"`
	NodeName   *string          `json:"nodeName,omitempty"`
	Zone       *string          `json:"zone,omitempty"`
}

// Slice is a discovery/v1 EndpointSlice.
type Slice struct {
	kobj.Object
	AddressType string      `json:"addressType"`
	Endpoints   []Endpoint  `json:"endpoints"`
	Ports       []SlicePort `json:"ports"`
}

func decodeSlice(b []byte) (*Slice, error) {
	s := &Slice{}
	if err := decodeObject(b, &s.Object, s); err != nil {
		return nil, fmt.Errorf("decode endpointslice: %w", err)
	}
	for i := range s.Endpoints {
		sort.Strings(s.Endpoints[i].Addresses)
	}
	return s, nil
}

// copy is a slice to change: its own endpoint list, the same document (only the copy is
// written).
func (s *Slice) copy() *Slice {
	c := *s
	c.Endpoints = append([]Endpoint(nil), s.Endpoints...)
	return &c
}

// doc is the slice's document with the typed fields written back.
func (s *Slice) doc() []byte {
	eps := s.Endpoints
	if eps == nil {
		eps = []Endpoint{}
	}
	ports := s.Ports
	if ports == nil {
		ports = []SlicePort{}
	}
	s.Set(s.AddressType, "addressType")
	s.Set(eps, "endpoints")
	s.Set(ports, "ports")
	s.Set(s.Meta.Labels, "metadata", "labels")
	return s.JSON()
}

// addressTypes is getAddressTypesForService: one per IP family of the service; without
// families, that of the cluster IP, or both for a headless service.
func addressTypes(svc *Service) []string {
	var out []string
	for _, f := range svc.Spec.IPFamilies {
		if (f == "IPv4" || f == "IPv6") && !contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) > 0 {
		return out
	}
	if svc.ipSet() {
		return []string{primaryFamily(svc)}
	}
	return []string{"IPv4", "IPv6"}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// ownedBy reports whether the slice names svc as an owner.
func ownedBy(s *Slice, svc *Service) bool {
	for _, r := range s.Meta.OwnerReferences {
		if r.UID == svc.Meta.UID && r.Kind == "Service" && r.APIVersion == "v1" {
			return true
		}
	}
	return false
}

func reservedLabel(k string) bool {
	return k == LabelServiceName || k == LabelManagedBy || k == LabelHeadless
}

// sliceLabels is setEndpointSliceLabels: the service's labels and the reserved ones, and
// whether the slice's own (unreserved) labels differ from the service's.
func sliceLabels(cur map[string]string, svc *Service) (map[string]string, bool) {
	have, want := map[string]string{}, map[string]string{}
	for k, v := range cur {
		if !reservedLabel(k) {
			have[k] = v
		}
	}
	for k, v := range svc.Meta.Labels {
		if !reservedLabel(k) {
			want[k] = v
		}
	}
	changed := !labelsEqual(have, want)
	if !svc.ipSet() {
		want[LabelHeadless] = ""
	}
	want[LabelServiceName] = svc.Meta.Name
	want[LabelManagedBy] = ControllerName
	return want, changed
}

// newSlice is newEndpointSlice: an empty slice of svc for ports, to be created.
func newSlice(svc *Service, ports []SlicePort, addressType string) *Slice {
	labels, _ := sliceLabels(nil, svc)
	s := &Slice{AddressType: addressType, Endpoints: []Endpoint{}, Ports: ports}
	s.Meta = kobj.ObjectMeta{
		GenerateName:    svc.Meta.Name + "-",
		Namespace:       svc.Meta.Namespace,
		Labels:          labels,
		OwnerReferences: []kobj.OwnerReference{kobj.NewControllerRef("v1", "Service", &svc.Meta)},
	}
	s.Raw = map[string]any{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice"}
	s.Set(map[string]any{"generateName": s.Meta.GenerateName, "namespace": s.Meta.Namespace,
		"ownerReferences": s.Meta.OwnerReferences}, "metadata")
	return s
}

// endpointPorts is getEndpointPorts: the service's ports resolved for pod.
func endpointPorts(svc *Service, pod *Pod) []SlicePort {
	out := []SlicePort{}
	if len(svc.Spec.Ports) == 0 && svc.headless() {
		return out
	}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		n, ok := findPort(pod, sp)
		if !ok {
			continue
		}
		name, proto := sp.Name, protocol(sp.Protocol)
		out = append(out, SlicePort{Name: &name, Port: &n, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	return out
}

// portKey is NewPortMapKey: the same ports in any order give the same key.
func portKey(ports []SlicePort) string {
	enc := make([]string, len(ports))
	for i, p := range ports {
		enc[i] = string(mustJSON(p))
	}
	sort.Strings(enc)
	return "[" + strings.Join(enc, ",") + "]"
}

// podToEndpoint is podToEndpoint for one address type.
func podToEndpoint(pod *Pod, svc *Service, addressType string) Endpoint {
	serving := pod.Pod.Ready()
	terminating := pod.Meta.Deleting()
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := Endpoint{
		Addresses:  []string{},
		Conditions: Conditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  pod.ref(),
	}
	for _, ip := range pod.ips() {
		if ip.Is6() == (addressType == "IPv6") {
			ep.Addresses = append(ep.Addresses, ip.String())
		}
	}
	sort.Strings(ep.Addresses)
	if pod.Spec.NodeName != "" {
		node := pod.Spec.NodeName
		ep.NodeName = &node
	}
	if pod.setHostname(svc) {
		h := pod.Spec.Hostname
		ep.Hostname = &h
	}
	return ep
}

// endpointHash is hashEndpoint: addresses, hostname and the pod's namespace/name identify an
// endpoint; everything else may change in place.
func endpointHash(ep *Endpoint) string {
	h := ""
	if ep.Hostname != nil {
		h = *ep.Hostname
	}
	var ns, name string
	if ep.TargetRef != nil {
		ns, name = ep.TargetRef.Namespace, ep.TargetRef.Name
	}
	return string(mustJSON([]any{ep.Addresses, h, ns, name}))
}

// equalBeyondHash is EndpointsEqualBeyondHash: node, zone, conditions and target.
func equalBeyondHash(a, b *Endpoint) bool {
	x := func(e *Endpoint) string {
		return string(mustJSON([]any{e.NodeName, e.Zone, e.Conditions, e.TargetRef}))
	}
	return x(a) == x(b)
}

// endpointSet is EndpointSet in insertion order.
type endpointSet struct {
	order []string
	m     map[string]*Endpoint
}

func newEndpointSet() *endpointSet { return &endpointSet{m: map[string]*Endpoint{}} }

func (s *endpointSet) insert(ep *Endpoint) {
	k := endpointHash(ep)
	if _, ok := s.m[k]; !ok {
		s.order = append(s.order, k)
	}
	s.m[k] = ep
}
func (s *endpointSet) get(ep *Endpoint) *Endpoint { return s.m[endpointHash(ep)] }
func (s *endpointSet) remove(ep *Endpoint)        { delete(s.m, endpointHash(ep)) }
func (s *endpointSet) len() int                   { return len(s.m) }

// pop removes and returns the first endpoint still in the set.
func (s *endpointSet) pop() *Endpoint {
	for len(s.order) > 0 {
		k := s.order[0]
		s.order = s.order[1:]
		if ep, ok := s.m[k]; ok {
			delete(s.m, k)
			return ep
		}
	}
	return nil
}

// names is an ordered set of slice names.
type names []string

func (n *names) add(s string) {
	if !contains(*n, s) {
		*n = append(*n, s)
	}
}

func (n *names) remove(s string) {
	for i, x := range *n {
		if x == s {
			*n = append((*n)[:i], (*n)[i+1:]...)
			return
		}
	}
}

// reconcileSlices is Reconciler.Reconcile: the writes that make svc's slices show pods.
func reconcileSlices(svc *Service, pods []*Pod, existing []*Slice, max int) []abi.Action {
	var mine []*Slice
	for _, s := range existing {
		if s.Meta.Labels[LabelManagedBy] == ControllerName && s.Meta.Labels[LabelServiceName] == svc.Meta.Name &&
			s.Meta.Namespace == svc.Meta.Namespace && !s.Meta.Deleting() {
			mine = append(mine, s)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Meta.Name < mine[j].Meta.Name })
	types := addressTypes(svc)
	var unsupported []*Slice
	byType := map[string][]*Slice{}
	for _, s := range mine {
		if !contains(types, s.AddressType) {
			unsupported = append(unsupported, s)
			continue
		}
		byType[s.AddressType] = append(byType[s.AddressType], s)
	}
	var actions []abi.Action
	for _, t := range types {
		actions = append(actions, reconcileAddressType(svc, pods, byType[t], t, max)...)
	}
	for _, s := range unsupported {
		actions = append(actions, abi.Action{Verb: abi.VerbDelete, Object: s.Ref(false)})
	}
	return actions
}

// reconcileAddressType is reconcileByAddressType and finalize.
func reconcileAddressType(svc *Service, pods []*Pod, existing []*Slice, addressType string, max int) []abi.Action {
	var toCreate, toUpdate, toDelete []*Slice
	existingByPorts := map[string][]*Slice{}
	for _, s := range existing {
		if ownedBy(s, svc) {
			k := portKey(s.Ports)
			existingByPorts[k] = append(existingByPorts[k], s)
		} else {
			toDelete = append(toDelete, s)
		}
	}
	desired := map[string]*endpointSet{}
	desiredPorts := map[string][]SlicePort{}
	var keys []string
	for _, pod := range pods {
		if !pod.shouldBeInEndpoints(true) {
			continue
		}
		ports := endpointPorts(svc, pod)
		k := portKey(ports)
		if desired[k] == nil {
			desired[k] = newEndpointSet()
			desiredPorts[k] = ports
			keys = append(keys, k)
		}
		ep := podToEndpoint(pod, svc, addressType)
		if len(ep.Addresses) > 0 {
			desired[k].insert(&ep)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		c, u, d := reconcilePorts(svc, existingByPorts[k], desired[k], desiredPorts[k], addressType, max)
		toCreate, toUpdate, toDelete = append(toCreate, c...), append(toUpdate, u...), append(toDelete, d...)
	}
	var stale []string
	for k := range existingByPorts {
		if desired[k] == nil {
			stale = append(stale, k)
		}
	}
	sort.Strings(stale)
	for _, k := range stale {
		toDelete = append(toDelete, existingByPorts[k]...)
	}
	// A service without endpoints keeps one empty placeholder slice.
	if len(existing) == len(toDelete) && len(toCreate) == 0 {
		ph := newSlice(svc, []SlicePort{}, addressType)
		if len(toDelete) == 1 && placeholderEqual(toDelete[0], ph) {
			toDelete = nil
		} else {
			toCreate = append(toCreate, ph)
		}
	}
	return finalize(svc, toCreate, toUpdate, toDelete)
}

func placeholderEqual(a, b *Slice) bool {
	return a.Meta.Namespace == b.Meta.Namespace && labelsEqual(a.Meta.Labels, b.Meta.Labels) &&
		a.AddressType == b.AddressType && len(a.Endpoints) == 0 && len(b.Endpoints) == 0 && len(a.Ports) == 0 && len(b.Ports) == 0
}

// reconcilePorts is reconcileByPortMapping for the slices of one set of ports.
func reconcilePorts(svc *Service, existing []*Slice, desired *endpointSet, ports []SlicePort, addressType string, max int) (toCreate, toUpdate, toDelete []*Slice) {
	byName := map[string]*Slice{}
	var unchanged, update, del names
	// 1. Drop endpoints no longer desired, refresh those that changed, fix labels.
	for _, s := range existing {
		byName[s.Meta.Name] = s
		var kept []Endpoint
		changed := false
		for i := range s.Endpoints {
			ep := &s.Endpoints[i]
			if got := desired.get(ep); got != nil {
				kept = append(kept, *got)
				if !equalBeyondHash(got, ep) {
					changed = true
				}
				desired.remove(ep)
			}
		}
		labels, labelsChanged := sliceLabels(s.Meta.Labels, svc)
		switch {
		case changed || len(kept) != len(s.Endpoints):
			if len(kept) == 0 {
				del.add(s.Meta.Name)
				continue
			}
			c := s.copy()
			c.Endpoints, c.Meta.Labels = kept, labels
			byName[s.Meta.Name] = c
			update.add(s.Meta.Name)
		case labelsChanged:
			c := s.copy()
			c.Meta.Labels = labels
			byName[s.Meta.Name] = c
			update.add(s.Meta.Name)
		default:
			unchanged.add(s.Meta.Name)
		}
	}
	// 2. Fill the slices being updated, fullest first.
	if desired.len() > 0 && len(update) > 0 {
		var fill []*Slice
		for _, n := range update {
			fill = append(fill, byName[n])
		}
		sort.SliceStable(fill, func(i, j int) bool { return len(fill[i].Endpoints) > len(fill[j].Endpoints) })
		for _, s := range fill {
			for desired.len() > 0 && len(s.Endpoints) < max {
				s.Endpoints = append(s.Endpoints, *desired.pop())
			}
		}
	}
	// 3. Put the rest into an unchanged slice they fit in, else into new slices.
	for desired.len() > 0 {
		var s *Slice
		if desired.len() < max && len(unchanged) > 0 {
			var cands []*Slice
			for _, n := range unchanged {
				cands = append(cands, byName[n])
			}
			s = sliceToFill(cands, desired.len(), max)
		}
		if s == nil {
			s = newSlice(svc, ports, addressType)
		} else {
			s = s.copy()
			byName[s.Meta.Name] = s
		}
		for desired.len() > 0 && len(s.Endpoints) < max {
			s.Endpoints = append(s.Endpoints, *desired.pop())
		}
		if s.Meta.Name != "" {
			update.add(s.Meta.Name)
			unchanged.remove(s.Meta.Name)
		} else {
			toCreate = append(toCreate, s)
		}
	}
	for _, n := range update {
		toUpdate = append(toUpdate, byName[n])
	}
	for _, n := range del {
		toDelete = append(toDelete, byName[n])
	}
	return toCreate, toUpdate, toDelete
}

// sliceToFill is getSliceToFill: the slice closest to full once n endpoints are added, or nil.
func sliceToFill(slices []*Slice, n, max int) *Slice {
	closest := max
	var out *Slice
	for _, s := range slices {
		diff := max - (n + len(s.Endpoints))
		if diff >= 0 && diff < closest {
			closest, out = diff, s
			if diff == 0 {
				return out
			}
		}
	}
	return out
}

// finalize turns creates into updates of slices that would be deleted, then answers the
// creates (none while the service is being deleted), updates and deletes.
func finalize(svc *Service, toCreate, toUpdate, toDelete []*Slice) []abi.Action {
	for i := 0; i < len(toDelete) && len(toCreate) > 0; {
		old := toDelete[i]
		s := toCreate[len(toCreate)-1]
		if old.AddressType != s.AddressType || !ownedBy(old, svc) {
			i++
			continue
		}
		s.Meta.Name = old.Meta.Name
		s.Set(old.Meta.Name, "metadata", "name")
		s.Set(nil, "metadata", "generateName")
		s.Set(old.Meta.UID, "metadata", "uid")
		s.Set(old.Meta.ResourceVersion, "metadata", "resourceVersion")
		toCreate = toCreate[:len(toCreate)-1]
		toUpdate = append(toUpdate, s)
		toDelete = append(toDelete[:i], toDelete[i+1:]...)
	}
	var actions []abi.Action
	if !svc.Meta.Deleting() {
		for _, s := range toCreate {
			actions = append(actions, abi.Action{Verb: abi.VerbCreate, Object: s.doc()})
		}
	}
	for _, s := range toUpdate {
		actions = append(actions, abi.Action{Verb: abi.VerbUpdate, Object: s.doc()})
	}
	for _, s := range toDelete {
		actions = append(actions, abi.Action{Verb: abi.VerbDelete, Object: s.Ref(false)})
	}
	return actions
}
