package proxy

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Service is the proxy's view of one Kubernetes Service: its ClusterIP and, per port, the
// ready endpoints. Only IPv4 addresses are programmed.
type Service struct {
	Namespace, Name string
	// ClusterIP is the virtual address; the zero value means none (NodePorts only).
	ClusterIP netip.Addr
	Ports     []Port
}

// Port is one service port and the ready endpoints behind it.
type Port struct {
	// Name is the service port's name ("" for a single unnamed port).
	Name string
	// Protocol is TCP or UDP; "" means TCP. Other protocols are skipped.
	Protocol corev1.Protocol
	// Port is the port on the ClusterIP; NodePort, if not 0, the port on every local address.
	Port, NodePort int32
	// Endpoints are the ready backends; none means connections are rejected.
	Endpoints []Endpoint
}

// Endpoint is one ready backend of a service port.
type Endpoint struct {
	IP   netip.Addr
	Port int32
}

func (e Endpoint) String() string { return netip.AddrPortFrom(e.IP, uint16(e.Port)).String() }

// proto is an L4 protocol the proxy programs.
type proto uint8

const (
	protoTCP proto = 6
	protoUDP proto = 17
)

func (p proto) String() string {
	if p == protoUDP {
		return "udp"
	}
	return "tcp"
}

// unit is one service port as programmed: the unit of incremental updates. Everything the
// rules of a unit contain is derived from these fields, so two equal units render equal rules.
type unit struct {
	key       string // namespace/name/proto/portName
	proto     proto
	clusterIP netip.Addr // invalid: no ClusterIP element
	port      uint16
	nodePort  uint16 // 0: none
	endpoints []Endpoint
}

func (u *unit) equal(o *unit) bool {
	return u.key == o.key && u.proto == o.proto && u.clusterIP == o.clusterIP &&
		u.port == o.port && u.nodePort == o.nodePort && slices.Equal(u.endpoints, o.endpoints)
}

// chain names, as kube-proxy makes them: a prefix, a hash of the rest (so similar names stay
// distinguishable and truncation stays unique), and the readable identity. nftables allows
// [A-Za-z0-9_./-] in names; Kubernetes names are [a-z0-9-], so "/" and "__" separate parts.
func (u *unit) svcChain() string { return "svc-" + hashName(u.key) }
func (u *unit) extChain() string { return "ext-" + hashName(u.key) }
func (u *unit) epChain(e Endpoint) string {
	return "ep-" + hashName(fmt.Sprintf("%s__%s/%d", u.key, e.IP, e.Port))
}

// maxNameLen keeps chain names below nftables' 256-byte limit (NFT_NAME_MAXLEN).
const maxNameLen = 200

func hashName(name string) string {
	sum := sha256.Sum256([]byte(name))
	s := base32.StdEncoding.EncodeToString(sum[:])[:8] + "-" + name
	if len(s) > maxNameLen {
		s = s[:maxNameLen-3] + "..."
	}
	return s
}

// problem is one part of the desired state that was skipped, and why.
type problem struct {
	what, why string
}

// units flattens services into units sorted by key, skipping (and reporting) what cannot be
// programmed: non-IPv4 addresses, unsupported protocols, invalid ports, duplicate keys and
// ClusterIP or NodePort collisions (the first unit in key order keeps the address).
func units(svcs []Service) ([]*unit, []problem) {
	var out []*unit
	var probs []problem
	for _, s := range svcs {
		for _, p := range s.Ports {
			var pr proto
			switch p.Protocol {
			case "", corev1.ProtocolTCP:
				pr = protoTCP
			case corev1.ProtocolUDP:
				pr = protoUDP
			default:
				probs = append(probs, problem{s.Namespace + "/" + s.Name + "/" + p.Name, "protocol " + string(p.Protocol) + " is not supported"})
				continue
			}
			u := &unit{key: strings.Join([]string{s.Namespace, s.Name, pr.String(), p.Name}, "/"), proto: pr}
			if p.Port < 1 || p.Port > 65535 || p.NodePort < 0 || p.NodePort > 65535 {
				probs = append(probs, problem{u.key, fmt.Sprintf("port %d or node port %d out of range", p.Port, p.NodePort)})
				continue
			}
			u.port, u.nodePort = uint16(p.Port), uint16(p.NodePort)
			if s.ClusterIP.IsValid() {
				if !s.ClusterIP.Is4() {
					probs = append(probs, problem{u.key, "cluster IP " + s.ClusterIP.String() + " is not IPv4"})
				} else {
					u.clusterIP = s.ClusterIP
				}
			}
			for _, e := range p.Endpoints {
				if !e.IP.Is4() || e.Port < 1 || e.Port > 65535 {
					probs = append(probs, problem{u.key, "endpoint " + e.String() + " is not IPv4 or its port is out of range"})
					continue
				}
				u.endpoints = append(u.endpoints, e)
			}
			slices.SortFunc(u.endpoints, func(a, b Endpoint) int {
				return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Port, b.Port))
			})
			u.endpoints = slices.Compact(u.endpoints)
			if !u.clusterIP.IsValid() && u.nodePort == 0 {
				continue
			}
			out = append(out, u)
		}
	}
	slices.SortStableFunc(out, func(a, b *unit) int { return strings.Compare(a.key, b.key) })
	type ipKey struct {
		ip    netip.Addr
		proto proto
		port  uint16
	}
	type portKey struct {
		proto proto
		port  uint16
	}
	kept := out[:0]
	ips := map[ipKey]string{}
	nodePorts := map[portKey]string{}
	for i, u := range out {
		if i > 0 && out[i-1].key == u.key {
			probs = append(probs, problem{u.key, "duplicate service port"})
			continue
		}
		if u.clusterIP.IsValid() {
			k := ipKey{u.clusterIP, u.proto, u.port}
			if other, ok := ips[k]; ok {
				probs = append(probs, problem{u.key, fmt.Sprintf("cluster IP and port %s %s/%d already used by %s", u.clusterIP, u.proto, u.port, other)})
				u.clusterIP = netip.Addr{}
			} else {
				ips[k] = u.key
			}
		}
		if u.nodePort != 0 {
			k := portKey{u.proto, u.nodePort}
			if other, ok := nodePorts[k]; ok {
				probs = append(probs, problem{u.key, fmt.Sprintf("node port %s/%d already used by %s", u.proto, u.nodePort, other)})
				u.nodePort = 0
			} else {
				nodePorts[k] = u.key
			}
		}
		if !u.clusterIP.IsValid() && u.nodePort == 0 {
			continue
		}
		kept = append(kept, u)
	}
	return kept, probs
}
