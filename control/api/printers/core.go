package printers

import (
	"cmp"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const (
	// loadBalancerWidth is how much of a load balancer's addresses the
	// EXTERNAL-IP column shows outside -o wide.
	loadBalancerWidth = 16
	// labelNodeRolePrefix marks a node role label, node-role.kubernetes.io/<role>="".
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	// nodeLabelRole is the older role label, kubernetes.io/role=<role>.
	nodeLabelRole = "kubernetes.io/role"
)

var (
	nodeColumns = []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Status", Type: "string", Description: "The status of the node"},
		{Name: "Roles", Type: "string", Description: "The roles of the node"},
		ageColumn,
		{Name: "Version", Type: "string", Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]},
		{Name: "Internal-IP", Type: "string", Priority: 1, Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]},
		{Name: "External-IP", Type: "string", Priority: 1, Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]},
		{Name: "OS-Image", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]},
		{Name: "Kernel-Version", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]},
		{Name: "Container-Runtime", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]},
	}
	serviceColumns = []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Type", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["type"]},
		{Name: "Cluster-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]},
		{Name: "External-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]},
		{Name: "Port(s)", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["ports"]},
		ageColumn,
		{Name: "Selector", Type: "string", Priority: 1, Description: corev1.ServiceSpec{}.SwaggerDoc()["selector"]},
	}
	endpointsColumns = []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Endpoints", Type: "string", Description: corev1.Endpoints{}.SwaggerDoc()["subsets"]},
		ageColumn,
	}
	eventColumns = []metav1.TableColumnDefinition{
		{Name: "Last Seen", Type: "string", Description: corev1.Event{}.SwaggerDoc()["lastTimestamp"]},
		{Name: "Type", Type: "string", Description: corev1.Event{}.SwaggerDoc()["type"]},
		{Name: "Reason", Type: "string", Description: corev1.Event{}.SwaggerDoc()["reason"]},
		{Name: "Object", Type: "string", Description: corev1.Event{}.SwaggerDoc()["involvedObject"]},
		{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.Event{}.InvolvedObject.SwaggerDoc()["fieldPath"]},
		{Name: "Source", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["source"]},
		{Name: "Message", Type: "string", Description: corev1.Event{}.SwaggerDoc()["message"]},
		{Name: "First Seen", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["firstTimestamp"]},
		{Name: "Count", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["count"]},
		{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: objectMetaDoc["name"]},
	}
	namespaceColumns = []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Status", Type: "string", Description: "The status of the namespace"},
		ageColumn,
	}
	secretColumns = []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Type", Type: "string", Description: corev1.Secret{}.SwaggerDoc()["type"]},
		{Name: "Data", Type: "string", Description: corev1.Secret{}.SwaggerDoc()["data"]},
		ageColumn,
	}
	configMapColumns = []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Data", Type: "string", Description: corev1.ConfigMap{}.SwaggerDoc()["data"]},
		ageColumn,
	}
)

// addCoreHandlers registers the printers of the core/v1 types.
func addCoreHandlers(h map[reflect.Type]handler) {
	addPodHandlers(h)
	register(h, nodeColumns, func(l *corev1.NodeList) []corev1.Node { return l.Items }, printNode)
	register(h, serviceColumns, func(l *corev1.ServiceList) []corev1.Service { return l.Items }, printService)
	register(h, endpointsColumns, func(l *corev1.EndpointsList) []corev1.Endpoints { return l.Items }, printEndpoints)
	register(h, eventColumns, func(l *corev1.EventList) []corev1.Event { return l.Items }, printEvent)
	register(h, namespaceColumns, func(l *corev1.NamespaceList) []corev1.Namespace { return l.Items }, printNamespace)
	register(h, secretColumns, func(l *corev1.SecretList) []corev1.Secret { return l.Items }, printSecret)
	register(h, configMapColumns, func(l *corev1.ConfigMapList) []corev1.ConfigMap { return l.Items }, printConfigMap)
}

// printNode shows Ready/NotReady/Unknown (plus SchedulingDisabled when
// cordoned) and the roles from node-role labels.
func printNode(node *corev1.Node, now time.Time) metav1.TableRow {
	var status []string
	for i := range node.Status.Conditions {
		cond := node.Status.Conditions[i]
		if cond.Type != corev1.NodeReady {
			continue
		}
		// The last Ready condition wins, as in Kubernetes' condition map.
		status = status[:0]
		if cond.Status == corev1.ConditionTrue {
			status = append(status, string(cond.Type))
		} else {
			status = append(status, "Not"+string(cond.Type))
		}
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if node.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}

	roles := strings.Join(findNodeRoles(node), ",")
	if len(roles) == 0 {
		roles = "<none>"
	}

	info := node.Status.NodeInfo
	osImage, kernelVersion, crVersion := info.OSImage, info.KernelVersion, info.ContainerRuntimeVersion
	if osImage == "" {
		osImage = "<unknown>"
	}
	if kernelVersion == "" {
		kernelVersion = "<unknown>"
	}
	if crVersion == "" {
		crVersion = "<unknown>"
	}
	return metav1.TableRow{Cells: []any{
		node.Name, strings.Join(status, ","), roles, age(node.CreationTimestamp, now), info.KubeletVersion,
		nodeAddress(node, corev1.NodeInternalIP), nodeAddress(node, corev1.NodeExternalIP), osImage, kernelVersion, crVersion,
	}}
}

// nodeAddress returns the node's first address of type t, or "<none>".
func nodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, address := range node.Status.Addresses {
		if address.Type == t {
			return address.Address
		}
	}
	return "<none>"
}

// findNodeRoles returns the sorted roles named by node-role.kubernetes.io/<role>
// labels and by the kubernetes.io/role=<role> label.
func findNodeRoles(node *corev1.Node) []string {
	roles := map[string]bool{}
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			if role := strings.TrimPrefix(k, labelNodeRolePrefix); len(role) > 0 {
				roles[role] = true
			}
		case k == nodeLabelRole && v != "":
			roles[v] = true
		}
	}
	out := make([]string, 0, len(roles))
	for role := range roles {
		out = append(out, role)
	}
	slices.Sort(out)
	return out
}

func printService(svc *corev1.Service, now time.Time) metav1.TableRow {
	internalIP := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		internalIP = svc.Spec.ClusterIPs[0]
	}
	// The server always renders the wide form, whose load balancer
	// addresses are not clipped.
	externalIP := serviceExternalIP(svc, true)
	ports := makePortString(svc.Spec.Ports)
	if len(ports) == 0 {
		ports = "<none>"
	}
	return metav1.TableRow{Cells: []any{
		svc.Name, string(svc.Spec.Type), internalIP, externalIP, ports, age(svc.CreationTimestamp, now),
		labels.FormatLabels(svc.Spec.Selector),
	}}
}

// loadBalancerStatusString joins the sorted, distinct addresses of a load
// balancer; outside wide output it is clipped to loadBalancerWidth bytes.
func loadBalancerStatusString(s corev1.LoadBalancerStatus, wide bool) string {
	seen := map[string]bool{}
	var result []string
	for _, ing := range s.Ingress {
		addr := ing.IP
		if addr == "" {
			addr = ing.Hostname
		}
		if addr != "" && !seen[addr] {
			seen[addr] = true
			result = append(result, addr)
		}
	}
	slices.Sort(result)
	r := strings.Join(result, ",")
	if !wide && len(r) > loadBalancerWidth {
		r = r[0:(loadBalancerWidth-3)] + "..."
	}
	return r
}

func serviceExternalIP(svc *corev1.Service, wide bool) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		lbIPs := loadBalancerStatusString(svc.Status.LoadBalancer, wide)
		if len(svc.Spec.ExternalIPs) > 0 {
			var results []string
			if len(lbIPs) > 0 {
				results = append(results, strings.Split(lbIPs, ",")...)
			}
			results = append(results, svc.Spec.ExternalIPs...)
			return strings.Join(results, ",")
		}
		if len(lbIPs) > 0 {
			return lbIPs
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// makePortString renders ports as "80/TCP" or, with a node port, "80:30080/TCP".
func makePortString(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, port := range ports {
		pieces[i] = fmt.Sprintf("%d/%s", port.Port, port.Protocol)
		if port.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", port.Port, port.NodePort, port.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}

func printEndpoints(ep *corev1.Endpoints, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []any{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp, now)}}
}

// formatEndpoints lists up to three ip:port pairs (or bare IPs for subsets
// without ports) and says how many more there are.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	var list []string
	const max = 3
	more := false
	count := 0
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			// Headless services may have no ports.
			count += len(ss.Addresses)
			for _, addr := range ss.Addresses {
				if len(list) == max {
					more = true
					break
				}
				list = append(list, addr.IP)
			}
			continue
		}
		for _, port := range ss.Ports {
			count += len(ss.Addresses)
			for _, addr := range ss.Addresses {
				if len(list) == max {
					more = true
					break
				}
				list = append(list, net.JoinHostPort(addr.IP, strconv.Itoa(int(port.Port))))
			}
		}
	}
	ret := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", ret, count-max)
	}
	return ret
}

// printEvent renders an event as kubectl get events shows it: LAST SEEN,
// TYPE, REASON, OBJECT (kind/name), MESSAGE, and in wide output the
// subobject, source, first seen, count and name.
func printEvent(ev *corev1.Event, now time.Time) metav1.TableRow {
	firstTimestamp := age(ev.FirstTimestamp, now)
	if ev.FirstTimestamp.IsZero() {
		firstTimestamp = microAge(ev.EventTime, now)
	}

	lastTimestamp := age(ev.LastTimestamp, now)
	if ev.LastTimestamp.IsZero() {
		lastTimestamp = firstTimestamp
	}

	count := ev.Count
	if ev.Series != nil {
		lastTimestamp = microAge(ev.Series.LastObservedTime, now)
		count = ev.Series.Count
	} else if count == 0 {
		// Singleton events of the new API have no count.
		count = 1
	}

	target := strings.ToLower(ev.InvolvedObject.Kind)
	if len(ev.InvolvedObject.Name) > 0 {
		target += "/" + ev.InvolvedObject.Name
	}
	return metav1.TableRow{Cells: []any{
		lastTimestamp,
		ev.Type,
		ev.Reason,
		target,
		ev.InvolvedObject.FieldPath,
		formatEventSource(ev.Source, ev.ReportingController, ev.ReportingInstance),
		strings.TrimSpace(ev.Message),
		firstTimestamp,
		int64(count),
		ev.Name,
	}}
}

// formatEventSource renders "component, host", falling back to the
// reporting controller and instance, and dropping an empty host.
func formatEventSource(es corev1.EventSource, reportingController, reportingInstance string) string {
	component := cmp.Or(es.Component, reportingController)
	instance := cmp.Or(es.Host, reportingInstance)
	if len(instance) == 0 {
		return component
	}
	return component + ", " + instance
}

func printNamespace(ns *corev1.Namespace, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []any{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp, now)}}
}

func printSecret(s *corev1.Secret, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []any{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp, now)}}
}

func printConfigMap(cm *corev1.ConfigMap, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp, now)}}
}
