package defaulting

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func TestNamespace(t *testing.T) {
	tests := []struct {
		name       string
		in         *corev1.Namespace
		wantLabels map[string]string
		wantPhase  corev1.NamespacePhase
	}{
		{
			name:       "new",
			in:         &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
			wantLabels: map[string]string{"kubernetes.io/metadata.name": "team-a"},
			wantPhase:  corev1.NamespaceActive,
		},
		{
			name: "label is forced to the name, other labels and phase kept",
			in: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "other", "x": "y"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			},
			wantLabels: map[string]string{"kubernetes.io/metadata.name": "team-a", "x": "y"},
			wantPhase:  corev1.NamespaceTerminating,
		},
		{
			name:      "generateName only: no label",
			in:        &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"}},
			wantPhase: corev1.NamespaceActive,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertIdempotent(t, tt.in)
			Default(tt.in)
			if len(tt.in.Labels) != len(tt.wantLabels) {
				t.Errorf("labels = %v, want %v", tt.in.Labels, tt.wantLabels)
			}
			for k, v := range tt.wantLabels {
				if tt.in.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, tt.in.Labels[k], v)
				}
			}
			if tt.in.Status.Phase != tt.wantPhase {
				t.Errorf("phase = %q, want %q", tt.in.Status.Phase, tt.wantPhase)
			}
			if len(tt.in.Spec.Finalizers) != 0 {
				t.Errorf("Default added finalizers %v; they are create-only", tt.in.Spec.Finalizers)
			}
		})
	}
}

func TestPrepareNamespaceForCreate(t *testing.T) {
	tests := []struct {
		name string
		in   []corev1.FinalizerName
		want []corev1.FinalizerName
	}{
		{name: "none", want: []corev1.FinalizerName{"kubernetes"}},
		{name: "other kept", in: []corev1.FinalizerName{"example.com/x"}, want: []corev1.FinalizerName{"example.com/x", "kubernetes"}},
		{name: "not doubled", in: []corev1.FinalizerName{"kubernetes"}, want: []corev1.FinalizerName{"kubernetes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := &corev1.Namespace{Spec: corev1.NamespaceSpec{Finalizers: tt.in}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
			PrepareNamespaceForCreate(ns)
			if len(ns.Spec.Finalizers) != len(tt.want) {
				t.Fatalf("finalizers = %v, want %v", ns.Spec.Finalizers, tt.want)
			}
			for i := range tt.want {
				if ns.Spec.Finalizers[i] != tt.want[i] {
					t.Errorf("finalizers = %v, want %v", ns.Spec.Finalizers, tt.want)
				}
			}
			if ns.Status.Phase != corev1.NamespaceActive {
				t.Errorf("phase = %q, want Active", ns.Status.Phase)
			}
		})
	}
}

func TestNode(t *testing.T) {
	tests := []struct {
		name            string
		status          corev1.NodeStatus
		wantAllocatable map[corev1.ResourceName]string
	}{
		{
			name:            "allocatable from capacity, rounded to milli",
			status:          corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": mustQuantity("0.0001"), "memory": mustQuantity("1Gi")}},
			wantAllocatable: map[corev1.ResourceName]string{"cpu": "1m", "memory": "1Gi"},
		},
		{
			name: "explicit allocatable kept",
			status: corev1.NodeStatus{
				Capacity:    corev1.ResourceList{"cpu": mustQuantity("4")},
				Allocatable: corev1.ResourceList{"cpu": mustQuantity("3500m")},
			},
			wantAllocatable: map[corev1.ResourceName]string{"cpu": "3500m"},
		},
		{name: "no capacity, no allocatable", wantAllocatable: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: tt.status}
			assertIdempotent(t, n)
			Default(n)
			if tt.wantAllocatable == nil && n.Status.Allocatable != nil {
				t.Errorf("allocatable = %v, want nil", n.Status.Allocatable)
			}
			if len(n.Status.Allocatable) != len(tt.wantAllocatable) {
				t.Fatalf("allocatable = %v, want %v", n.Status.Allocatable, tt.wantAllocatable)
			}
			for name, want := range tt.wantAllocatable {
				q := n.Status.Allocatable[name]
				if got := q.String(); got != want {
					t.Errorf("allocatable[%s] = %s, want %s", name, got, want)
				}
			}
		})
	}
}

func TestServiceMatchesKubeAPIServer(t *testing.T) {
	// `kubectl expose deployment hello-world --port=80`; clusterIP(s),
	// ipFamilies and ipFamilyPolicy come from the registry, not from here.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-world"},
		Spec: corev1.ServiceSpec{
			Ports:    []corev1.ServicePort{{Port: 80}},
			Selector: map[string]string{"app": "hello-world"},
		},
	}
	Default(svc)
	assertSameJSON(t, svc.Spec, `
internalTrafficPolicy: Cluster
ports:
- port: 80
  protocol: TCP
  targetPort: 80
selector:
  app: hello-world
sessionAffinity: None
type: ClusterIP
`)
}

func TestService(t *testing.T) {
	tests := []struct {
		name  string
		spec  corev1.ServiceSpec
		check func(*testing.T, *corev1.Service)
	}{
		{
			name: "ClusterIP: no external policy, no LB fields",
			spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.ExternalTrafficPolicy != "" || s.Spec.AllocateLoadBalancerNodePorts != nil {
					t.Errorf("etp %q allocateLBNodePorts %v, want unset", s.Spec.ExternalTrafficPolicy, s.Spec.AllocateLoadBalancerNodePorts)
				}
				if s.Spec.IPFamilyPolicy != nil || s.Spec.ClusterIP != "" {
					t.Errorf("ipFamilyPolicy %v clusterIP %q: the registry's, want unset", s.Spec.IPFamilyPolicy, s.Spec.ClusterIP)
				}
			},
		},
		{
			name: "NodePort: external and internal policy Cluster",
			spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("http")}}},
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster || *s.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster {
					t.Errorf("etp %q itp %v, want Cluster/Cluster", s.Spec.ExternalTrafficPolicy, s.Spec.InternalTrafficPolicy)
				}
				p := s.Spec.Ports[0]
				if p.Protocol != corev1.ProtocolUDP || p.TargetPort != intstr.FromString("http") || p.NodePort != 0 {
					t.Errorf("port = %+v, want UDP, targetPort http, no nodePort", p)
				}
			},
		},
		{
			name: "ClusterIP with externalIPs is externally accessible",
			spec: corev1.ServiceSpec{ExternalIPs: []string{"192.0.2.1"}},
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
					t.Errorf("etp = %q, want Cluster", s.Spec.ExternalTrafficPolicy)
				}
			},
		},
		{
			name: "LoadBalancer: node ports allocated, ingress IP mode VIP, explicit Local kept",
			spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal},
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.AllocateLoadBalancerNodePorts == nil || !*s.Spec.AllocateLoadBalancerNodePorts {
					t.Errorf("allocateLoadBalancerNodePorts = %v, want true", s.Spec.AllocateLoadBalancerNodePorts)
				}
				if s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
					t.Errorf("etp = %q, want Local kept", s.Spec.ExternalTrafficPolicy)
				}
				ing := s.Status.LoadBalancer.Ingress
				if ing[0].IPMode == nil || *ing[0].IPMode != corev1.LoadBalancerIPModeVIP {
					t.Errorf("ingress[0].ipMode = %v, want VIP", ing[0].IPMode)
				}
				if ing[1].IPMode != nil {
					t.Errorf("hostname ingress ipMode = %v, want unset", *ing[1].IPMode)
				}
			},
		},
		{
			name: "ExternalName: no traffic policies",
			spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"},
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.InternalTrafficPolicy != nil || s.Spec.ExternalTrafficPolicy != "" {
					t.Errorf("itp %v etp %q, want unset", s.Spec.InternalTrafficPolicy, s.Spec.ExternalTrafficPolicy)
				}
				if s.Spec.SessionAffinity != corev1.ServiceAffinityNone {
					t.Errorf("sessionAffinity = %q, want None", s.Spec.SessionAffinity)
				}
			},
		},
		{
			name: "ClientIP affinity gets a 3h timeout",
			spec: corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP},
			check: func(t *testing.T, s *corev1.Service) {
				c := s.Spec.SessionAffinityConfig
				if c == nil || c.ClientIP == nil || *c.ClientIP.TimeoutSeconds != 10800 {
					t.Errorf("sessionAffinityConfig = %+v, want timeoutSeconds 10800", c)
				}
			},
		},
		{
			name: "ClientIP timeout kept",
			spec: corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP, SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo(int32(60))}}},
			check: func(t *testing.T, s *corev1.Service) {
				if got := *s.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds; got != 60 {
					t.Errorf("timeoutSeconds = %d, want 60", got)
				}
			},
		},
		{
			name: "affinity None drops a stray config",
			spec: corev1.ServiceSpec{SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo(int32(60))}}},
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.SessionAffinityConfig != nil {
					t.Errorf("sessionAffinityConfig = %+v, want nil", s.Spec.SessionAffinityConfig)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: tt.spec}
			if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.9"}, {Hostname: "lb.example.com"}}
			}
			assertIdempotent(t, s)
			Default(s)
			tt.check(t, s)
		})
	}
}

func TestEndpoints(t *testing.T) {
	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}},
		Ports:     []corev1.EndpointPort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}},
	}}}
	assertIdempotent(t, ep)
	Default(ep)
	if got := ep.Subsets[0].Ports[0].Protocol; got != corev1.ProtocolTCP {
		t.Errorf("protocol = %q, want TCP", got)
	}
	if got := ep.Subsets[0].Ports[1].Protocol; got != corev1.ProtocolUDP {
		t.Errorf("protocol = %q, want UDP kept", got)
	}
}

func TestSecretAndConfigMap(t *testing.T) {
	tests := []struct {
		name string
		in   corev1.SecretType
		want corev1.SecretType
	}{
		{name: "unset", want: corev1.SecretTypeOpaque},
		{name: "tls kept", in: corev1.SecretTypeTLS, want: corev1.SecretTypeTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &corev1.Secret{Type: tt.in}
			Default(s)
			if s.Type != tt.want {
				t.Errorf("type = %q, want %q", s.Type, tt.want)
			}
		})
	}

	cm := &corev1.ConfigMap{BinaryData: map[string][]byte{"b": {1}}}
	Default(cm)
	if cm.Data == nil || len(cm.Data) != 0 {
		t.Errorf("data = %v, want empty non-nil map", cm.Data)
	}
	cm = &corev1.ConfigMap{Data: map[string]string{"k": "v"}}
	Default(cm)
	if cm.Data["k"] != "v" {
		t.Errorf("data = %v, want k=v kept", cm.Data)
	}
}
