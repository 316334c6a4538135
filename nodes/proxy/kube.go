package proxy

import (
	"cmp"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// FromKubernetes converts Services and their EndpointSlices (matched by the
// kubernetes.io/service-name label in the same namespace) to the proxy's view. Headless and
// ExternalName services are skipped. An endpoint is used when it is ready (conditions.ready
// unset or true) and not terminating; its port is the slice port with the service port's name.
// The result is sorted by namespace and name.
func FromKubernetes(svcs []*corev1.Service, endpointSlices []*discoveryv1.EndpointSlice) []Service {
	type nsName struct{ ns, name string }
	bySvc := map[nsName][]*discoveryv1.EndpointSlice{}
	for _, s := range endpointSlices {
		if s == nil || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		k := nsName{s.Namespace, name}
		bySvc[k] = append(bySvc[k], s)
	}
	var out []Service
	for _, svc := range svcs {
		if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		s := Service{Namespace: svc.Namespace, Name: svc.Name}
		if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
			s.ClusterIP = ip
		}
		for _, sp := range svc.Spec.Ports {
			p := Port{Name: sp.Name, Protocol: sp.Protocol, Port: sp.Port, NodePort: sp.NodePort}
			if p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
			if svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
				p.NodePort = 0
			}
			seen := map[Endpoint]bool{}
			for _, sl := range bySvc[nsName{svc.Namespace, svc.Name}] {
				var epPort int32 = -1
				for _, pp := range sl.Ports {
					if pp.Port == nil || derefStr(pp.Name) != sp.Name {
						continue
					}
					if pp.Protocol != nil && *pp.Protocol != p.Protocol {
						continue
					}
					epPort = *pp.Port
				}
				if epPort < 0 {
					continue
				}
				for _, ep := range sl.Endpoints {
					if !ready(ep.Conditions) {
						continue
					}
					for _, a := range ep.Addresses {
						ip, err := netip.ParseAddr(a)
						if err != nil {
							continue
						}
						e := Endpoint{IP: ip, Port: epPort}
						if !seen[e] {
							seen[e] = true
							p.Endpoints = append(p.Endpoints, e)
						}
					}
				}
			}
			slices.SortFunc(p.Endpoints, func(a, b Endpoint) int {
				return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Port, b.Port))
			})
			s.Ports = append(s.Ports, p)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// ready is kube-proxy's rule for serving traffic: ready unset counts as ready; terminating
// endpoints are not used.
func ready(c discoveryv1.EndpointConditions) bool {
	if c.Terminating != nil && *c.Terminating {
		return false
	}
	return c.Ready == nil || *c.Ready
}

func derefStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
