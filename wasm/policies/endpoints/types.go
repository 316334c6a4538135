package endpoints

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/skiff-sh/skiff/wasm/policies/internal/kobj"
)

// IntOrString is a service port's targetPort.
type IntOrString = kobj.IntOrString

// ServicePort is core/v1 ServicePort, the fields the controllers read.
type ServicePort struct {
	Name        string       `json:"name,omitempty"`
	Protocol    string       `json:"protocol,omitempty"`
	AppProtocol *string      `json:"appProtocol,omitempty"`
	Port        int32        `json:"port"`
	TargetPort  *IntOrString `json:"targetPort,omitempty"`
}

// Service is a core/v1 Service.
type Service struct {
	kobj.Object
	Spec struct {
		Type                     string            `json:"type,omitempty"`
		Selector                 map[string]string `json:"selector,omitempty"`
		ClusterIP                string            `json:"clusterIP,omitempty"`
		IPFamilies               []string          `json:"ipFamilies,omitempty"`
		Ports                    []ServicePort     `json:"ports,omitempty"`
		PublishNotReadyAddresses bool              `json:"publishNotReadyAddresses,omitempty"`
	} `json:"spec"`
}

// ipSet is helper.IsServiceIPSet: the service has a cluster IP (it is not headless).
func (s *Service) ipSet() bool { return s.Spec.ClusterIP != "None" && s.Spec.ClusterIP != "" }

// headless is a service with clusterIP None.
func (s *Service) headless() bool { return s.Spec.ClusterIP == "None" }

// selects reports whether the service's selector selects labels (a selector given as a map:
// every pair must match; the caller has ruled out an empty selector).
func (s *Service) selects(labels map[string]string) bool {
	for k, v := range s.Spec.Selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// containerPort is one of a container's ports.
type containerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
}

type container struct {
	Ports         []containerPort `json:"ports,omitempty"`
	RestartPolicy string          `json:"restartPolicy,omitempty"`
}

// Pod is a pod with what the endpoints controllers read beyond kobj.Pod.
type Pod struct {
	*kobj.Pod
	Spec struct {
		NodeName       string      `json:"nodeName,omitempty"`
		Hostname       string      `json:"hostname,omitempty"`
		Subdomain      string      `json:"subdomain,omitempty"`
		Containers     []container `json:"containers,omitempty"`
		InitContainers []container `json:"initContainers,omitempty"`
	} `json:"spec"`
	Status struct {
		PodIP  string `json:"podIP,omitempty"`
		PodIPs []struct {
			IP string `json:"ip"`
		} `json:"podIPs,omitempty"`
	} `json:"status"`
}

func decodePod(b []byte) (*Pod, error) {
	kp, err := kobj.DecodePod(b)
	if err != nil {
		return nil, err
	}
	p := &Pod{Pod: kp}
	var extra struct {
		Spec   json.RawMessage `json:"spec"`
		Status json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(b, &extra); err != nil {
		return nil, fmt.Errorf("decode pod: %w", err)
	}
	if len(extra.Spec) > 0 {
		if err := json.Unmarshal(extra.Spec, &p.Spec); err != nil {
			return nil, fmt.Errorf("decode pod %s spec: %w", kp.Meta.Name, err)
		}
	}
	if len(extra.Status) > 0 {
		if err := json.Unmarshal(extra.Status, &p.Status); err != nil {
			return nil, fmt.Errorf("decode pod %s status: %w", kp.Meta.Name, err)
		}
	}
	return p, nil
}

// terminal is a pod that Succeeded or Failed.
func (p *Pod) terminal() bool {
	return p.Pod.Status.Phase == "Succeeded" || p.Pod.Status.Phase == "Failed"
}

// ips are the pod's addresses in canonical form: status.podIPs, else status.podIP.
func (p *Pod) ips() []netip.Addr {
	var raw []string
	for _, ip := range p.Status.PodIPs {
		raw = append(raw, ip.IP)
	}
	if len(raw) == 0 && p.Status.PodIP != "" {
		raw = []string{p.Status.PodIP}
	}
	var out []netip.Addr
	for _, s := range raw {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// shouldBeInEndpoints is endpointsliceutil.ShouldPodBeInEndpoints.
func (p *Pod) shouldBeInEndpoints(includeTerminating bool) bool {
	if p.terminal() {
		return false
	}
	if p.Status.PodIP == "" && len(p.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || !p.Meta.Deleting()
}

// setHostname is endpointsliceutil.ShouldSetHostname.
func (p *Pod) setHostname(svc *Service) bool {
	return p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Meta.Name && p.Meta.Namespace == svc.Meta.Namespace
}

// ref is the targetRef to the pod.
func (p *Pod) ref() *ObjectReference {
	return &ObjectReference{Kind: "Pod", Namespace: p.Meta.Namespace, Name: p.Meta.Name, UID: p.Meta.UID}
}

// findPort is podutil.FindPort: a numeric targetPort as is (the port itself when unset), a named
// one looked up among the containers' (and restartable init containers') ports of the same
// protocol.
func findPort(p *Pod, sp *ServicePort) (int32, bool) {
	tp := sp.TargetPort
	if tp == nil {
		return sp.Port, true
	}
	if !tp.IsString {
		if tp.Int == 0 {
			return sp.Port, true
		}
		return tp.Int, true
	}
	proto := protocol(sp.Protocol)
	look := func(cs []container, sidecarsOnly bool) (int32, bool) {
		for _, c := range cs {
			if sidecarsOnly && c.RestartPolicy != "Always" {
				continue
			}
			for _, cp := range c.Ports {
				if cp.Name == tp.Str && protocol(cp.Protocol) == proto {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	}
	if n, ok := look(p.Spec.Containers, false); ok {
		return n, true
	}
	return look(p.Spec.InitContainers, true)
}

// protocol defaults an empty protocol to TCP, as the API server does.
func protocol(p string) string {
	if p == "" {
		return "TCP"
	}
	return p
}

// ObjectReference is core/v1 ObjectReference without resourceVersion: the controllers never
// write it and ignore it when comparing.
type ObjectReference struct {
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	UID        string `json:"uid,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	FieldPath  string `json:"fieldPath,omitempty"`
}

// decodeObject reads any object into o (keeping its whole document) and v.
func decodeObject(b []byte, o *kobj.Object, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&o.Raw); err != nil {
		return err
	}
	if o.Raw == nil {
		return fmt.Errorf("not a JSON object")
	}
	var m struct {
		Metadata kobj.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	o.Meta = m.Metadata
	if v != nil {
		return json.Unmarshal(b, v)
	}
	return nil
}

func decodeService(b []byte) (*Service, error) {
	s := &Service{}
	if err := decodeObject(b, &s.Object, s); err != nil {
		return nil, fmt.Errorf("decode service: %w", err)
	}
	return s, nil
}

// mustJSON encodes values this package built itself.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("endpoints: encode: %v", err))
	}
	return b
}

// labelsEqual compares label maps, nil and empty alike.
func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
