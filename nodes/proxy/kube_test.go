package proxy

import (
	"net/netip"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func kubeService(name, typ, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceType(typ), ClusterIP: clusterIP, Ports: ports},
	}
}

func slice(svc string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: svc + "-x",
			Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
		Endpoints:   eps,
	}
}

func kep(ip string, ready, terminating *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}}
}

func TestFromKubernetes(t *testing.T) {
	httpPort := []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}}
	for _, c := range []struct {
		name   string
		svcs   []*corev1.Service
		slices []*discoveryv1.EndpointSlice
		want   []Service
	}{
		{
			name: "ready nil or true, not terminating",
			svcs: []*corev1.Service{kubeService("web", "ClusterIP", "10.96.0.10", corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP})},
			slices: []*discoveryv1.EndpointSlice{slice("web", httpPort,
				kep("10.0.0.3", nil, nil), kep("10.0.0.1", ptr(true), nil), kep("10.0.0.2", ptr(false), nil),
				kep("10.0.0.4", ptr(true), ptr(true)))},
			want: []Service{{Namespace: "ns", Name: "web", ClusterIP: netip.MustParseAddr("10.96.0.10"), Ports: []Port{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, Endpoints: []Endpoint{
					{IP: netip.MustParseAddr("10.0.0.1"), Port: 8080}, {IP: netip.MustParseAddr("10.0.0.3"), Port: 8080}}}}}},
		},
		{
			name: "ports matched by name across slices",
			svcs: []*corev1.Service{kubeService("two", "NodePort", "10.96.0.11",
				corev1.ServicePort{Name: "a", Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP},
				corev1.ServicePort{Name: "b", Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP})},
			slices: []*discoveryv1.EndpointSlice{
				slice("two", []discoveryv1.EndpointPort{{Name: ptr("b"), Port: ptr(int32(5353)), Protocol: ptr(corev1.ProtocolUDP)}}, kep("10.0.0.9", nil, nil)),
				slice("two", []discoveryv1.EndpointPort{{Name: ptr("a"), Port: ptr(int32(8080))}}, kep("10.0.0.8", nil, nil)),
				slice("other", httpPort, kep("10.0.0.7", nil, nil)),
			},
			want: []Service{{Namespace: "ns", Name: "two", ClusterIP: netip.MustParseAddr("10.96.0.11"), Ports: []Port{
				{Name: "a", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 30080, Endpoints: []Endpoint{{IP: netip.MustParseAddr("10.0.0.8"), Port: 8080}}},
				{Name: "b", Protocol: corev1.ProtocolUDP, Port: 53, NodePort: 30053, Endpoints: []Endpoint{{IP: netip.MustParseAddr("10.0.0.9"), Port: 5353}}},
			}}},
		},
		{
			name: "headless and ExternalName skipped, no slices means no endpoints",
			svcs: []*corev1.Service{
				kubeService("headless", "ClusterIP", "None", corev1.ServicePort{Port: 80}),
				kubeService("ext", "ExternalName", "", corev1.ServicePort{Port: 80}),
				kubeService("lonely", "", "10.96.0.12", corev1.ServicePort{Port: 80}),
			},
			want: []Service{{Namespace: "ns", Name: "lonely", ClusterIP: netip.MustParseAddr("10.96.0.12"), Ports: []Port{
				{Protocol: corev1.ProtocolTCP, Port: 80}}}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := FromKubernetes(c.svcs, c.slices)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("FromKubernetes =\n%+v\nwant\n%+v", got, c.want)
			}
		})
	}
}
