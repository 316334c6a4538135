package defaulting

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Defaults of the core/v1 group other than the pod spec (core_pod.go).

// defaultNamespace ports SetDefaults_Namespace and SetDefaults_NamespaceStatus:
// the kubernetes.io/metadata.name label always mirrors the name, and the
// phase starts Active.
func defaultNamespace(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// PrepareNamespaceForCreate applies what kube-apiserver's namespace strategy
// sets on create only: status phase Active (the rest of status is dropped) and
// the "kubernetes" finalizer. It is not defaulting: on update the finalizer
// may have been removed by the namespace controller and must stay removed, so
// call this from the create path only, before Default.
func PrepareNamespaceForCreate(ns *corev1.Namespace) {
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
}

// defaultNode ports SetDefaults_NodeStatus: allocatable defaults to capacity.
func defaultNode(node *corev1.Node) {
	st := &node.Status
	if st.Allocatable == nil && st.Capacity != nil {
		st.Allocatable = make(corev1.ResourceList, len(st.Capacity))
		for name, q := range st.Capacity {
			st.Allocatable[name] = q.DeepCopy()
		}
	}
	roundResourceList(st.Capacity)
	roundResourceList(st.Allocatable)
}

// defaultService ports SetDefaults_Service and the declarative ServicePort
// protocol. Cluster IPs, node ports, IP families and ipFamilyPolicy are the
// registry's: they depend on the cluster and on the stored object.
func defaultService(svc *corev1.Service) {
	spec := &svc.Spec
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		spec.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		cfg := spec.SessionAffinityConfig
		if cfg == nil || cfg.ClientIP == nil || cfg.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{
				ClientIP: &corev1.ClientIPConfig{
					TimeoutSeconds: ptrTo(corev1.DefaultClientIPServiceAffinitySeconds),
				},
			}
		}
	}
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if externallyAccessible(svc) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if spec.InternalTrafficPolicy == nil {
		switch spec.Type {
		case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
			spec.InternalTrafficPolicy = ptrTo(corev1.ServiceInternalTrafficPolicyCluster)
		}
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		if spec.AllocateLoadBalancerNodePorts == nil {
			spec.AllocateLoadBalancerNodePorts = ptrTo(true)
		}
		for i := range svc.Status.LoadBalancer.Ingress {
			ing := &svc.Status.LoadBalancer.Ingress[i]
			if ing.IP != "" && ing.IPMode == nil {
				ing.IPMode = ptrTo(corev1.LoadBalancerIPModeVIP)
			}
		}
	}
}

// externallyAccessible ports pkg/api/v1/service.ExternallyAccessible.
func externallyAccessible(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeClusterIP:
		return len(svc.Spec.ExternalIPs) > 0
	}
	return false
}

// defaultEndpoints ports SetDefaults_Endpoints: port protocol TCP.
func defaultEndpoints(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		ports := ep.Subsets[i].Ports
		for j := range ports {
			if ports[j].Protocol == "" {
				ports[j].Protocol = corev1.ProtocolTCP
			}
		}
	}
}

// defaultConfigMap ports SetDefaults_ConfigMap: data is never nil. An empty
// map is omitted on the wire, so this shows only to Go readers.
func defaultConfigMap(cm *corev1.ConfigMap) {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
}

// defaultSecret ports SetDefaults_Secret: type Opaque.
func defaultSecret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
}

// roundResourceList ports SetDefaults_ResourceList: every quantity is rounded
// up to milli scale (1.0001m becomes 2m).
func roundResourceList(list corev1.ResourceList) {
	const milliScale = -3
	for name, q := range list {
		q.RoundUp(milliScale)
		list[name] = q
	}
}

func roundResourceRequirements(r *corev1.ResourceRequirements) {
	roundResourceList(r.Limits)
	roundResourceList(r.Requests)
}

func ptrTo[T any](v T) *T { return &v }
