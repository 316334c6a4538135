package validation

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNamespace(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(ns *corev1.Namespace)
		want   []wantErr
	}{
		{"valid", func(ns *corev1.Namespace) {}, nil},
		{"name with dots", func(ns *corev1.Namespace) { ns.Name = "team.a" },
			[]wantErr{invalid("metadata.name", "must not contain dots")}},
		{"missing name", func(ns *corev1.Namespace) { ns.Name = "" },
			[]wantErr{required("metadata.name", "")}},
		{"namespace set", func(ns *corev1.Namespace) { ns.Namespace = "default" },
			[]wantErr{forbidden("metadata.namespace", "not allowed on this type")}},
		{"unqualified spec finalizer", func(ns *corev1.Namespace) { ns.Spec.Finalizers = []corev1.FinalizerName{"cleanup"} },
			[]wantErr{invalid("spec.finalizers", "neither a standard finalizer name nor is it fully qualified")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
				Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}}}
			tt.mutate(ns)
			checkErrs(t, ValidateCreate(ns), tt.want...)
		})
	}
}

func TestNamespaceUpdateAndStatus(t *testing.T) {
	old := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", ResourceVersion: "3"},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	ns := old.DeepCopy()
	ns.Labels = map[string]string{"env": "prod"}
	checkErrs(t, ValidateUpdate(ns, old))
	ns.Name = "team-b"
	checkErrs(t, ValidateUpdate(ns, old), invalid("metadata.name", "field is immutable"))

	ns = old.DeepCopy()
	ns.Status.Phase = corev1.NamespaceTerminating
	checkErrs(t, ValidateStatusUpdate(ns, old), invalid("status.Phase", "may only be 'Active' if `deletionTimestamp` is empty"))
	ns.DeletionTimestamp = &metav1.Time{Time: time.Unix(1700000000, 0)}
	old.DeletionTimestamp = ns.DeletionTimestamp
	checkErrs(t, ValidateStatusUpdate(ns, old))
}

func validNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1.lab"},
		Spec: corev1.NodeSpec{
			PodCIDRs: []string{"10.244.1.0/24", "fd00:1::/64"},
			PodCIDR:  "10.244.1.0/24",
			Taints:   []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
		},
	}
}

func TestNode(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(n *corev1.Node)
		want   []wantErr
	}{
		{"valid", func(n *corev1.Node) {}, nil},
		{"bad name", func(n *corev1.Node) { n.Name = "Node_1" },
			[]wantErr{invalid("metadata.name", "")}},
		{"taint without effect", func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" },
			[]wantErr{required("metadata.taints[0].effect", "")}},
		{"duplicate taint", func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, n.Spec.Taints[0]) },
			[]wantErr{duplicate("metadata.taints[1]")}},
		{"bad pod CIDR", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/33"} },
			[]wantErr{invalid("spec.podCIDRs[0]", "")}},
		{"two IPv4 pod CIDRs", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24", "10.245.1.0/24"} },
			[]wantErr{invalid("spec.podCIDRs", "may specify no more than one CIDR for each IP family")}},
		{"negative capacity", func(n *corev1.Node) { n.Status.Capacity[corev1.ResourceMemory] = resource.MustParse("-1Gi") },
			[]wantErr{invalid("status.capacity.memory", "must be greater than or equal to 0")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := validNode()
			tt.mutate(n)
			checkErrs(t, ValidateCreate(n), tt.want...)
		})
	}
}

func TestNodeUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(n *corev1.Node)
		mutate func(n *corev1.Node)
		want   []wantErr
	}{
		{"cordon and status", nil, func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.2"}}
		}, nil},
		{"pod CIDRs assigned", func(n *corev1.Node) { n.Spec.PodCIDRs, n.Spec.PodCIDR = nil, "" }, func(n *corev1.Node) {}, nil},
		{"pod CIDRs changed", nil, func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.2.0/24", "fd00:2::/64"} },
			[]wantErr{forbidden("spec.podCIDRs", "node updates may not change podCIDR"), forbidden("spec.podCIDRs", "node updates may not change podCIDR")}},
		{"provider ID changed", func(n *corev1.Node) { n.Spec.ProviderID = "skiff://a" }, func(n *corev1.Node) { n.Spec.ProviderID = "skiff://b" },
			[]wantErr{forbidden("spec.providerID", "node updates may not change providerID")}},
		{"duplicate address", nil, func(n *corev1.Node) {
			a := corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.168.1.2"}
			n.Status.Addresses = []corev1.NodeAddress{a, a}
		}, []wantErr{duplicate("status.addresses[1]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validNode()
			old.ResourceVersion = "9"
			if tt.old != nil {
				tt.old(old)
			}
			n := validNode()
			n.ResourceVersion = "9"
			tt.mutate(n)
			checkErrs(t, ValidateUpdate(n, old), tt.want...)
			// Node status writes go through the same checks.
			checkErrs(t, ValidateStatusUpdate(n, old), tt.want...)
		})
	}
}

func TestConfigMap(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(cm *corev1.ConfigMap)
		want   []wantErr
	}{
		{"valid", func(cm *corev1.ConfigMap) {}, nil},
		{"bad key", func(cm *corev1.ConfigMap) { cm.Data["a/b"] = "x" },
			[]wantErr{invalid("data[a/b]", "a valid config key must consist of")}},
		{"bad binary key", func(cm *corev1.ConfigMap) { cm.BinaryData = map[string][]byte{"..": {1}} },
			[]wantErr{invalid("binaryData[..]", "")}},
		{"key in both", func(cm *corev1.ConfigMap) { cm.BinaryData = map[string][]byte{"app.conf": {1}} },
			[]wantErr{invalid("data[app.conf]", "duplicate of key present in binaryData")}},
		{"too large", func(cm *corev1.ConfigMap) { cm.Data["big"] = strings.Repeat("x", 1024*1024) },
			// Kubernetes reports the whole object, at the path "[]".
			[]wantErr{tooLong("[]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: objectMeta("app-config"), Data: map[string]string{"app.conf": "port=80"}}
			tt.mutate(cm)
			checkErrs(t, ValidateCreate(cm), tt.want...)
		})
	}
}

func TestConfigMapUpdateImmutable(t *testing.T) {
	old := &corev1.ConfigMap{ObjectMeta: withRV(objectMeta("cfg")), Data: map[string]string{"a": "1"}, Immutable: ptr(true)}
	cm := old.DeepCopy()
	cm.Labels = map[string]string{"x": "y"}
	checkErrs(t, ValidateUpdate(cm, old))
	cm.Data["a"] = "2"
	cm.Immutable = nil
	checkErrs(t, ValidateUpdate(cm, old),
		forbidden("immutable", "field is immutable when `immutable` is set"),
		forbidden("data", "field is immutable when `immutable` is set"))
}

func TestSecret(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *corev1.Secret)
		want   []wantErr
	}{
		{"valid", func(s *corev1.Secret) {}, nil},
		{"valid TLS", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeTLS
			s.Data = map[string][]byte{corev1.TLSCertKey: []byte("c"), corev1.TLSPrivateKeyKey: []byte("k")}
		}, nil},
		{"valid basic auth from stringData", func(s *corev1.Secret) {
			s.Type, s.Data = corev1.SecretTypeBasicAuth, nil
			s.StringData = map[string]string{corev1.BasicAuthUsernameKey: "admin"}
		}, nil},
		{"bad key", func(s *corev1.Secret) { s.Data["bad key"] = []byte("x") },
			[]wantErr{invalid("data[bad key]", "")}},
		{"bad stringData key", func(s *corev1.Secret) { s.StringData = map[string]string{"bad key": "x"} },
			[]wantErr{invalid("data[bad key]", "")}},
		{"too large", func(s *corev1.Secret) { s.Data["big"] = make([]byte, 1024*1024+1) },
			[]wantErr{tooLong("data")}},
		{"TLS without key", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeTLS
			s.Data = map[string][]byte{corev1.TLSCertKey: []byte("c")}
		}, []wantErr{required("data[tls.key]", "")}},
		{"docker config not JSON", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data = map[string][]byte{corev1.DockerConfigJsonKey: []byte("{")}
		}, []wantErr{invalid("data[.dockerconfigjson]", "")}},
		{"service account token without annotation", func(s *corev1.Secret) { s.Type = corev1.SecretTypeServiceAccountToken },
			[]wantErr{required("metadata.annotations[kubernetes.io/service-account.name]", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &corev1.Secret{ObjectMeta: objectMeta("creds"), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("hunter2")}}
			tt.mutate(s)
			checkErrs(t, ValidateCreate(s), tt.want...)
		})
	}
}

func TestSecretUpdate(t *testing.T) {
	old := &corev1.Secret{ObjectMeta: withRV(objectMeta("creds")), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"p": []byte("x")}}
	s := old.DeepCopy()
	s.Data["p"] = []byte("y")
	checkErrs(t, ValidateUpdate(s, old))
	s.Type = corev1.SecretTypeBasicAuth
	s.Data = map[string][]byte{corev1.BasicAuthUsernameKey: []byte("u")}
	checkErrs(t, ValidateUpdate(s, old), invalid("type", "field is immutable"))

	old.Immutable = ptr(true)
	s = old.DeepCopy()
	s.Data["p"] = []byte("z")
	checkErrs(t, ValidateUpdate(s, old), forbidden("data", "field is immutable when `immutable` is set"))
}

func TestCoreEvent(t *testing.T) {
	eventTime := metav1.NewMicroTime(time.Unix(1700000000, 0))
	tests := []struct {
		name   string
		mutate func(e *corev1.Event)
		want   []wantErr
	}{
		{"valid legacy", func(e *corev1.Event) {}, nil},
		{"valid cluster-scoped object in default", func(e *corev1.Event) {
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}, nil},
		{"valid new style", func(e *corev1.Event) {
			e.EventTime, e.ReportingController, e.ReportingInstance, e.Action = eventTime, "skiff.sh/scheduler", "control-1", "Binding"
		}, nil},
		{"namespace mismatch", func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" },
			[]wantErr{invalid("involvedObject.namespace", "does not match event.namespace")}},
		{"missing name", func(e *corev1.Event) { e.Name = "" },
			[]wantErr{required("metadata.name", "")}},
		{"new style without reporting fields", func(e *corev1.Event) { e.EventTime = eventTime },
			[]wantErr{required("reportingController", ""), invalid("reportingController", "name part must be non-empty"),
				invalid("reportingController", "name part must consist of"), required("reportingInstance", ""), required("action", "")}},
		{"new style reason too long", func(e *corev1.Event) {
			e.EventTime, e.ReportingController, e.ReportingInstance, e.Action = eventTime, "skiff.sh/scheduler", "control-1", "Binding"
			e.Reason = strings.Repeat("r", 129)
		}, []wantErr{invalid("reason", "can have at most 128 characters")}},
		{"new style message too long", func(e *corev1.Event) {
			e.EventTime, e.ReportingController, e.ReportingInstance, e.Action = eventTime, "skiff.sh/scheduler", "control-1", "Binding"
			e.Message = strings.Repeat("m", 1025)
		}, []wantErr{invalid("message", "can have at most 1024 characters")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &corev1.Event{
				ObjectMeta:     objectMeta("web-0.17a1b2c3"),
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: metav1.NamespaceDefault, Name: "web-0"},
				Reason:         "Scheduled",
				Message:        "Successfully assigned default/web-0 to node-1",
				Type:           corev1.EventTypeNormal,
			}
			tt.mutate(e)
			checkErrs(t, ValidateCreate(e), tt.want...)
			old := e.DeepCopy()
			checkErrs(t, ValidateUpdate(e, old), tt.want...)
		})
	}
}
