package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// validService is a defaulted ClusterIP service with its IP allocated.
func validService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta("web"),
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
			ClusterIP:             "10.96.0.10",
			ClusterIPs:            []string{"10.96.0.10"},
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:        ptr(corev1.IPFamilyPolicySingleStack),
			SessionAffinity:       corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}
}

func asNodePort(s *corev1.Service) {
	s.Spec.Type = corev1.ServiceTypeNodePort
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	s.Spec.Ports[0].NodePort = 30080
}

func TestServiceCreate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *corev1.Service)
		want   []wantErr
	}{
		{"valid", func(s *corev1.Service) {}, nil},
		{"valid before IP allocation", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil }, nil},
		{"valid headless without ports", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.Ports = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}, nil
		}, nil},
		{"valid NodePort", asNodePort, nil},
		{"valid LoadBalancer", func(s *corev1.Service) {
			asNodePort(s)
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.AllocateLoadBalancerNodePorts = ptr(true)
		}, nil},
		{"valid ExternalName", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com.", SessionAffinity: corev1.ServiceAffinityNone}
		}, nil},
		{"valid named target port", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("http") }, nil},
		{"valid ClientIP affinity", func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(10800))}}
		}, nil},

		{"name not a DNS-1035 label", func(s *corev1.Service) { s.Name = "1web" },
			[]wantErr{invalid("metadata.name", "a DNS-1035 label must")}},
		{"no ports", func(s *corev1.Service) { s.Spec.Ports = nil },
			[]wantErr{required("spec.ports", "")}},
		{"port zero", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 },
			[]wantErr{invalid("spec.ports[0].port", "must be between 1 and 65535")}},
		{"target port too big", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(65536) },
			[]wantErr{invalid("spec.ports[0].targetPort", "must be between 1 and 65535")}},
		{"node port too big", func(s *corev1.Service) { asNodePort(s); s.Spec.Ports[0].NodePort = 70000 },
			[]wantErr{invalid("spec.ports[0].nodePort", "must be between 1 and 65535")}},
		{"second port without name", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: corev1.ProtocolTCP})
		}, []wantErr{required("spec.ports[1].name", "")}},
		{"duplicate port name", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: corev1.ProtocolTCP})
		}, []wantErr{duplicate("spec.ports[1].name")}},
		{"duplicate port and protocol", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "alt", Port: 80, TargetPort: intstr.FromInt32(8081), Protocol: corev1.ProtocolTCP})
		}, []wantErr{duplicate("spec.ports[1]")}},
		{"bad protocol", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" },
			[]wantErr{notSupported("spec.ports[0].protocol")}},
		{"bad type", func(s *corev1.Service) { s.Spec.Type = "Internal" },
			[]wantErr{notSupported("spec.type")}},
		{"node port on ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			[]wantErr{forbidden("spec.ports[0].nodePort", "may not be used when `type` is 'ClusterIP'")}},
		{"bad selector", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web server"} },
			[]wantErr{invalid("spec.selector", "")}},
		{"bad session affinity", func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" },
			[]wantErr{notSupported("spec.sessionAffinity")}},
		{"ClientIP without config", func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP },
			[]wantErr{required("spec.sessionAffinityConfig", "when session affinity type is ClientIP")}},
		{"clusterIPs out of sync", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.11"} },
			[]wantErr{invalid("spec.clusterIPs", "first value must match `clusterIP`")}},
		{"bad cluster IP", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.256", []string{"10.96.0.256"} },
			[]wantErr{invalid("spec.clusterIPs[0]", "must be a valid IP address")}},
		{"IP of the wrong family", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} },
			[]wantErr{invalid("spec.clusterIPs[0]", "expected an IPv6 value")}},
		{"headless NodePort", func(s *corev1.Service) {
			asNodePort(s)
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}, []wantErr{invalid("spec.clusterIPs[0]", "may not be set to 'None' for NodePort services")}},
		{"loopback external IP", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"127.0.0.1"}; asNodePort(s) },
			[]wantErr{invalid("spec.externalIPs[0]", "may not be in the loopback range")}},
		{"NodePort without external traffic policy", func(s *corev1.Service) { asNodePort(s); s.Spec.ExternalTrafficPolicy = "" },
			[]wantErr{required("spec.externalTrafficPolicy", "")}},
		{"external traffic policy on ClusterIP", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal },
			[]wantErr{invalid("spec.externalTrafficPolicy", "may only be set for externally-accessible services")}},
		{"missing internal traffic policy", func(s *corev1.Service) { s.Spec.InternalTrafficPolicy = nil },
			[]wantErr{required("spec.internalTrafficPolicy", "")}},
		{"LoadBalancer without allocateLoadBalancerNodePorts", func(s *corev1.Service) {
			asNodePort(s)
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
		}, []wantErr{required("allocateLoadBalancerNodePorts", "")}},
		{"source ranges on ClusterIP", func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} },
			[]wantErr{forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'")}},
		{"ExternalName without name", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, SessionAffinity: corev1.ServiceAffinityNone}
		}, []wantErr{required("spec.externalName", "")}},
		{"ExternalName with cluster IP", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.InternalTrafficPolicy = corev1.ServiceTypeExternalName, "db.example.com", nil
		}, []wantErr{
			forbidden("spec.clusterIPs", "may not be set for ExternalName services"),
			forbidden("spec.ipFamilies", "may not be set for ExternalName services"),
			forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validService()
			tt.mutate(s)
			checkErrs(t, ValidateCreate(s), tt.want...)
		})
	}
}

func TestServiceUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *corev1.Service)
		want   []wantErr
	}{
		{"ports and selector change", func(s *corev1.Service) {
			s.Spec.Ports[0].Port = 8080
			s.Spec.Selector = map[string]string{"app": "web2"}
		}, nil},
		{"to NodePort", asNodePort, nil},
		{"cluster IP changed", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"} },
			[]wantErr{invalid("spec.clusterIPs[0]", "may not change once set")}},
		{"cluster IP removed", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil },
			[]wantErr{invalid("spec.clusterIPs[0]", "primary clusterIP can not be unset")}},
		{"ip family changed", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies = "fd00::10", []string{"fd00::10"}, []corev1.IPFamily{corev1.IPv6Protocol}
		}, []wantErr{invalid("spec.clusterIPs[0]", "may not change once set"), invalid("spec.ipFamilies[0]", "may not change once set")}},
		{"invalid as a service", func(s *corev1.Service) { s.Spec.Ports = nil },
			[]wantErr{required("spec.ports", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validService()
			old.ObjectMeta = withRV(old.ObjectMeta)
			s := old.DeepCopy()
			tt.mutate(s)
			checkErrs(t, ValidateUpdate(s, old), tt.want...)
		})
	}
}

func TestServiceStatusUpdate(t *testing.T) {
	old := validService()
	old.ObjectMeta = withRV(old.ObjectMeta)
	s := old.DeepCopy()
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}}
	checkErrs(t, ValidateStatusUpdate(s, old))
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.300"}}
	checkErrs(t, ValidateStatusUpdate(s, old), invalid("status.loadBalancer.ingress[0].ip", "must be a valid IP address"))
}

func validEndpoints() *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: objectMeta("web"),
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.244.1.5", NodeName: ptr("node-1")}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.244.2.7", Hostname: "web-1"}},
			Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
		}},
	}
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *corev1.Endpoints)
		want   []wantErr
	}{
		{"valid", func(e *corev1.Endpoints) {}, nil},
		{"subset without addresses", func(e *corev1.Endpoints) {
			e.Subsets[0].Addresses, e.Subsets[0].NotReadyAddresses = nil, nil
		}, []wantErr{required("subsets[0]", "must specify `addresses` or `notReadyAddresses`")}},
		{"bad address", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "web" },
			[]wantErr{invalid("subsets[0].addresses[0].ip", "must be a valid IP address"), invalid("subsets[0].addresses[0].ip", "must be a valid IP address")}},
		{"link-local address", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "169.254.169.254" },
			[]wantErr{invalid("subsets[0].addresses[0].ip", "may not be in the link-local range")}},
		{"bad hostname", func(e *corev1.Endpoints) { e.Subsets[0].NotReadyAddresses[0].Hostname = "Web" },
			[]wantErr{invalid("subsets[0].notReadyAddresses[0].hostname", "")}},
		{"port out of range", func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Port = 0 },
			[]wantErr{invalid("subsets[0].ports[0].port", "must be between 1 and 65535")}},
		{"second port without name", func(e *corev1.Endpoints) {
			e.Subsets[0].Ports = append(e.Subsets[0].Ports, corev1.EndpointPort{Port: 8443, Protocol: corev1.ProtocolTCP})
		}, []wantErr{required("subsets[0].ports[1].name", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEndpoints()
			tt.mutate(e)
			checkErrs(t, ValidateCreate(e), tt.want...)
			old := validEndpoints()
			old.ObjectMeta = withRV(old.ObjectMeta)
			e.ObjectMeta = withRV(e.ObjectMeta)
			checkErrs(t, ValidateUpdate(e, old), tt.want...)
		})
	}
}
