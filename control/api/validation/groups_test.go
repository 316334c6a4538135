package validation

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func validEndpointSlice() *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  objectMeta("web-abc12"),
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"10.244.1.5"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
			NodeName:   ptr("node-1"),
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(int32(8080))}},
	}
}

func TestEndpointSlice(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(es *discoveryv1.EndpointSlice)
		want   []wantErr
	}{
		{"valid", func(es *discoveryv1.EndpointSlice) {}, nil},
		{"valid FQDN", func(es *discoveryv1.EndpointSlice) {
			es.AddressType = discoveryv1.AddressTypeFQDN
			es.Endpoints[0].Addresses = []string{"db.example.com"}
		}, nil},
		{"missing address type", func(es *discoveryv1.EndpointSlice) { es.AddressType = "" },
			[]wantErr{required("addressType", "")}},
		{"unknown address type", func(es *discoveryv1.EndpointSlice) { es.AddressType = "IP" },
			[]wantErr{notSupported("addressType")}},
		{"endpoint without address", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = nil },
			[]wantErr{required("endpoints[0].addresses", "must contain at least 1 address")}},
		{"IPv6 address in IPv4 slice", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{"fd00::5"} },
			[]wantErr{invalid("endpoints[0].addresses[0]", "must be a valid IPv4 address")}},
		{"loopback address", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{"127.0.0.1"} },
			[]wantErr{invalid("endpoints[0].addresses[0]", "may not be in the loopback range")}},
		{"bad hostname", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Hostname = ptr("web.0") },
			[]wantErr{invalid("endpoints[0].hostname", "")}},
		{"port without protocol", func(es *discoveryv1.EndpointSlice) { es.Ports[0].Protocol = nil },
			[]wantErr{required("ports[0].protocol", "")}},
		{"duplicate port name", func(es *discoveryv1.EndpointSlice) { es.Ports = append(es.Ports, es.Ports[0]) },
			[]wantErr{duplicate("ports[1].name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := validEndpointSlice()
			tt.mutate(es)
			checkErrs(t, ValidateCreate(es), tt.want...)
		})
	}
}

func TestEndpointSliceUpdate(t *testing.T) {
	old := validEndpointSlice()
	old.ObjectMeta = withRV(old.ObjectMeta)
	es := old.DeepCopy()
	es.Endpoints[0].Addresses = []string{"10.244.1.6"}
	checkErrs(t, ValidateUpdate(es, old))
	es.AddressType = discoveryv1.AddressTypeIPv6
	es.Endpoints[0].Addresses = []string{"fd00::6"}
	checkErrs(t, ValidateUpdate(es, old), invalid("addressType", "field is immutable"))
}

func TestLease(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(l *coordinationv1.Lease)
		want   []wantErr
	}{
		{"valid", func(l *coordinationv1.Lease) {}, nil},
		{"zero duration", func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr(int32(0)) },
			[]wantErr{invalid("spec.leaseDurationSeconds", "must be greater than 0")}},
		{"negative transitions", func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr(int32(-1)) },
			[]wantErr{invalid("spec.leaseTransitions", "must be greater than or equal to 0")}},
		{"unknown strategy", func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr(coordinationv1.CoordinatedLeaseStrategy("Youngest"))
		},
			[]wantErr{notSupported("spec.strategy.strategy")}},
		{"preferred holder without strategy", func(l *coordinationv1.Lease) { l.Spec.PreferredHolder = ptr("node-2") },
			[]wantErr{forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined")}},
		{"missing namespace", func(l *coordinationv1.Lease) { l.Namespace = "" },
			[]wantErr{required("metadata.namespace", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &coordinationv1.Lease{ObjectMeta: objectMeta("node-1"),
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1"), LeaseDurationSeconds: ptr(int32(40))}}
			tt.mutate(l)
			checkErrs(t, ValidateCreate(l), tt.want...)
			old := l.DeepCopy()
			old.ResourceVersion, l.ResourceVersion = "5", "5"
			if tt.name != "missing namespace" {
				checkErrs(t, ValidateUpdate(l, old), tt.want...)
			}
		})
	}
}

func TestScale(t *testing.T) {
	s := &autoscalingv1.Scale{ObjectMeta: objectMeta("web"), Spec: autoscalingv1.ScaleSpec{Replicas: 0}}
	checkErrs(t, ValidateCreate(s))
	checkErrs(t, ValidateUpdate(s, s.DeepCopy()))
	s.Spec.Replicas = -1
	checkErrs(t, ValidateUpdate(s, s.DeepCopy()), invalid("spec.replicas", "must be greater than or equal to 0"))
}
