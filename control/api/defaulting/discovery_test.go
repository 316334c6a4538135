package defaulting

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestEndpointSlice(t *testing.T) {
	tests := []struct {
		name         string
		port         discoveryv1.EndpointPort
		wantName     string
		wantProtocol corev1.Protocol
	}{
		{name: "unset", port: discoveryv1.EndpointPort{Port: ptrTo(int32(80))}, wantName: "", wantProtocol: corev1.ProtocolTCP},
		{name: "set", port: discoveryv1.EndpointPort{Name: ptrTo("dns"), Protocol: ptrTo(corev1.ProtocolUDP)}, wantName: "dns", wantProtocol: corev1.ProtocolUDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{tt.port, tt.port}}
			assertIdempotent(t, s)
			Default(s)
			p := s.Ports[0]
			if p.Name == nil || *p.Name != tt.wantName || p.Protocol == nil || *p.Protocol != tt.wantProtocol {
				t.Fatalf("port = %+v, want name %q protocol %q", p, tt.wantName, tt.wantProtocol)
			}
			if tt.port.Name == nil {
				// Each defaulted port owns its pointer: changing one must not change another.
				*s.Ports[0].Name = "changed"
				if *s.Ports[1].Name == "changed" {
					t.Error("ports share a defaulted name pointer")
				}
			}
		})
	}
}
