package printers

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestCoreColumns(t *testing.T) {
	tests := []struct {
		list       runtime.Object
		want, wide []string
	}{
		{&corev1.NodeList{}, []string{"Name", "Status", "Roles", "Age", "Version"},
			[]string{"Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"}},
		{&corev1.ServiceList{}, []string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"},
			[]string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"}},
		{&corev1.EndpointsList{}, []string{"Name", "Endpoints", "Age"}, []string{"Name", "Endpoints", "Age"}},
		{&corev1.EventList{}, []string{"Last Seen", "Type", "Reason", "Object", "Message"},
			[]string{"Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"}},
		{&corev1.NamespaceList{}, []string{"Name", "Status", "Age"}, []string{"Name", "Status", "Age"}},
		{&corev1.SecretList{}, []string{"Name", "Type", "Data", "Age"}, []string{"Name", "Type", "Data", "Age"}},
		{&corev1.ConfigMapList{}, []string{"Name", "Data", "Age"}, []string{"Name", "Data", "Age"}},
	}
	for _, tt := range tests {
		t.Run(reflect.TypeOf(tt.list).Elem().Name(), func(t *testing.T) {
			table := mustTable(t, tt.list, metav1.TableOptions{})
			if got := columnNames(table, false); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("columns = %v, want %v", got, tt.want)
			}
			if got := columnNames(table, true); !reflect.DeepEqual(got, tt.wide) {
				t.Errorf("wide columns = %v, want %v", got, tt.wide)
			}
		})
	}
}

func TestPrintNode(t *testing.T) {
	info := corev1.NodeSystemInfo{KubeletVersion: "v1.37.0-skiff", OSImage: "Debian GNU/Linux 13 (trixie)", KernelVersion: "6.12.0", ContainerRuntimeVersion: "containerd://2.1.0"}
	addrs := []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "node-1"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.11"}}
	tests := []struct {
		name string
		node corev1.Node
		want []any
	}{{
		name: "ready control plane",
		node: corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node-1", CreationTimestamp: ago(49 * time.Hour), Labels: map[string]string{
				"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker", "node-role.kubernetes.io/": "",
			}},
			Status: corev1.NodeStatus{NodeInfo: info, Addresses: addrs, Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
			}},
		},
		want: []any{"node-1", "Ready", "control-plane,worker", "2d1h", "v1.37.0-skiff", "10.0.0.11", "<none>", "Debian GNU/Linux 13 (trixie)", "6.12.0", "containerd://2.1.0"},
	}, {
		name: "not ready and cordoned",
		node: corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node-2", CreationTimestamp: ago(90 * time.Second)},
			Spec:       corev1.NodeSpec{Unschedulable: true},
			Status: corev1.NodeStatus{NodeInfo: info, Addresses: append(addrs, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.9"}),
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}},
		},
		want: []any{"node-2", "NotReady,SchedulingDisabled", "<none>", "90s", "v1.37.0-skiff", "10.0.0.11", "203.0.113.9", "Debian GNU/Linux 13 (trixie)", "6.12.0", "containerd://2.1.0"},
	}, {
		name: "never reported",
		node: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-3", CreationTimestamp: ago(time.Minute)}},
		want: []any{"node-3", "Unknown", "<none>", "60s", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCells(t, rowCells(t, &tt.node), tt.want) })
	}
}

func TestPrintService(t *testing.T) {
	selector := map[string]string{"app": "web", "tier": "front"}
	tests := []struct {
		name string
		svc  corev1.Service
		want []any
	}{{
		name: "node port",
		svc: corev1.Service{ObjectMeta: objMeta("web"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, ClusterIP: "10.43.0.10", ClusterIPs: []string{"10.43.0.10"}, Selector: selector,
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}, {Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP}},
		}},
		want: []any{"web", "NodePort", "10.43.0.10", "<none>", "80:30080/TCP,53:30053/UDP", "5m", "app=web,tier=front"},
	}, {
		name: "cluster IP with external IPs",
		svc: corev1.Service{ObjectMeta: objMeta("web"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.43.0.11", "fd00::11"}, ExternalIPs: []string{"192.0.2.1", "192.0.2.2"},
			Ports: []corev1.ServicePort{{Port: 443, Protocol: corev1.ProtocolTCP}},
		}},
		want: []any{"web", "ClusterIP", "10.43.0.11", "192.0.2.1,192.0.2.2", "443/TCP", "5m", "<none>"},
	}, {
		name: "headless without ports",
		svc: corev1.Service{ObjectMeta: objMeta("db"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"None"}, Selector: map[string]string{"app": "db"},
		}},
		want: []any{"db", "ClusterIP", "None", "<none>", "<none>", "5m", "app=db"},
	}, {
		name: "load balancer pending",
		svc: corev1.Service{ObjectMeta: objMeta("lb"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.43.0.12"},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 31000, Protocol: corev1.ProtocolTCP}},
		}},
		want: []any{"lb", "LoadBalancer", "10.43.0.12", "<pending>", "80:31000/TCP", "5m", "<none>"},
	}, {
		name: "load balancer addresses are sorted, deduplicated and not clipped",
		svc: corev1.Service{ObjectMeta: objMeta("lb"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.43.0.12"}, ExternalIPs: []string{"192.0.2.7"},
		}, Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
			{Hostname: "lb.example.com"}, {IP: "198.51.100.20"}, {IP: "198.51.100.20"},
		}}}},
		want: []any{"lb", "LoadBalancer", "10.43.0.12", "198.51.100.20,lb.example.com,192.0.2.7", "<none>", "5m", "<none>"},
	}, {
		name: "external name",
		svc: corev1.Service{ObjectMeta: objMeta("ext"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com",
		}},
		want: []any{"ext", "ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCells(t, rowCells(t, &tt.svc), tt.want) })
	}
}

func TestLoadBalancerStatusClipsOutsideWide(t *testing.T) {
	s := corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "198.51.100.20"}, {IP: "198.51.100.21"}}}
	if got, want := loadBalancerStatusString(s, false), "198.51.100.20..."; got != want {
		t.Errorf("narrow = %q, want %q", got, want)
	}
	if got, want := loadBalancerStatusString(s, true), "198.51.100.20,198.51.100.21"; got != want {
		t.Errorf("wide = %q, want %q", got, want)
	}
}

func TestPrintEndpoints(t *testing.T) {
	two := []corev1.EndpointAddress{{IP: "10.42.0.1"}, {IP: "10.42.0.2"}}
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"none", nil, "<none>"},
		{"one port", []corev1.EndpointSubset{{Addresses: two, Ports: []corev1.EndpointPort{{Port: 8080}}}}, "10.42.0.1:8080,10.42.0.2:8080"},
		{"more than three", []corev1.EndpointSubset{{Addresses: two, Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}}},
			"10.42.0.1:80,10.42.0.2:80,10.42.0.1:443 + 1 more..."},
		{"headless without ports", []corev1.EndpointSubset{{Addresses: two}}, "10.42.0.1,10.42.0.2"},
		{"IPv6", []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "fd00::1"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}, "[fd00::1]:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: objMeta("web"), Subsets: tt.subsets}
			checkCells(t, rowCells(t, ep), []any{"web", tt.want, "5m"})
		})
	}
}

func TestPrintEvent(t *testing.T) {
	pod := corev1.ObjectReference{Kind: "Pod", Name: "web-7d9f", Namespace: "default", FieldPath: "spec.containers{web}"}
	tests := []struct {
		name  string
		event corev1.Event
		want  []any
	}{{
		name: "repeated kubelet event",
		event: corev1.Event{
			ObjectMeta: objMeta("web-7d9f.1819a"), InvolvedObject: pod, Type: corev1.EventTypeNormal, Reason: "Pulled",
			Message: "  Successfully pulled image \"nginx\"\n", Source: corev1.EventSource{Component: "kubelet", Host: "node-1"},
			FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(time.Minute), Count: 3,
		},
		want: []any{"60s", "Normal", "Pulled", "pod/web-7d9f", "spec.containers{web}", "kubelet, node-1", "Successfully pulled image \"nginx\"", "10m", int64(3), "web-7d9f.1819a"},
	}, {
		name: "new-style singleton event",
		event: corev1.Event{
			ObjectMeta: objMeta("web.1"), InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "web"}, Type: corev1.EventTypeWarning,
			Reason: "Failed", Message: "boom", EventTime: metav1.NewMicroTime(now.Add(-3 * time.Minute)), ReportingController: "skiff/deployment-controller",
		},
		want: []any{"3m", "Warning", "Failed", "deployment/web", "", "skiff/deployment-controller", "boom", "3m", int64(1), "web.1"},
	}, {
		name: "series",
		event: corev1.Event{
			ObjectMeta: objMeta("node.1"), InvolvedObject: corev1.ObjectReference{Kind: "Node"}, Type: corev1.EventTypeNormal, Reason: "Ping",
			EventTime: metav1.NewMicroTime(now.Add(-time.Hour)), ReportingController: "skiff", ReportingInstance: "node-1",
			Series: &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(now.Add(-20 * time.Second))},
		},
		want: []any{"20s", "Normal", "Ping", "node", "", "skiff, node-1", "", "60m", int64(7), "node.1"},
	}, {
		name:  "no times at all",
		event: corev1.Event{ObjectMeta: objMeta("x"), InvolvedObject: pod},
		want:  []any{"<unknown>", "", "", "pod/web-7d9f", "spec.containers{web}", "", "", "<unknown>", int64(1), "x"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCells(t, rowCells(t, &tt.event), tt.want) })
	}
}

func TestPrintSmallCoreTypes(t *testing.T) {
	tests := []struct {
		name string
		obj  runtime.Object
		want []any
	}{
		{"namespace", &corev1.Namespace{ObjectMeta: objMeta("team-a"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			[]any{"team-a", "Terminating", "5m"}},
		{"secret", &corev1.Secret{ObjectMeta: objMeta("tls"), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
			[]any{"tls", "kubernetes.io/tls", int64(2), "5m"}},
		{"configmap counts data and binary data", &corev1.ConfigMap{ObjectMeta: objMeta("cfg"), Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {1}}},
			[]any{"cfg", int64(3), "5m"}},
		{"unset creation time", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, []any{"new", int64(0), "<unknown>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCells(t, rowCells(t, tt.obj), tt.want) })
	}
}
