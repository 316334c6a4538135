package printers

import (
	"reflect"
	"strconv"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The descriptions come from discovery/v1beta1, as in Kubernetes.
var endpointSliceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "AddressType", Type: "string", Description: discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["addressType"]},
	{Name: "Ports", Type: "string", Description: discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["ports"]},
	{Name: "Endpoints", Type: "string", Description: discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["endpoints"]},
	ageColumn,
}

// addDiscoveryHandlers registers the printers of the discovery.k8s.io/v1 types.
func addDiscoveryHandlers(h map[reflect.Type]handler) {
	register(h, endpointSliceColumns, func(l *discoveryv1.EndpointSliceList) []discoveryv1.EndpointSlice { return l.Items }, printEndpointSlice)
}

func printEndpointSlice(s *discoveryv1.EndpointSlice, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []any{
		s.Name, string(s.AddressType), formatDiscoveryPorts(s.Ports), formatDiscoveryEndpoints(s.Endpoints), age(s.CreationTimestamp, now),
	}}
}

// formatDiscoveryPorts lists up to three port numbers (the name when the
// number is unset, "*" when both are).
func formatDiscoveryPorts(ports []discoveryv1.EndpointPort) string {
	var list []string
	const max = 3
	more := false
	count := 0
	for _, port := range ports {
		if len(list) < max {
			portNum := "*"
			if port.Port != nil {
				portNum = strconv.Itoa(int(*port.Port))
			} else if port.Name != nil {
				portNum = *port.Name
			}
			list = append(list, portNum)
		} else if len(list) == max {
			more = true
		}
		count++
	}
	return listWithMoreString(list, more, count, max)
}

// formatDiscoveryEndpoints lists up to three endpoint addresses.
func formatDiscoveryEndpoints(endpoints []discoveryv1.Endpoint) string {
	var list []string
	const max = 3
	more := false
	count := 0
	for _, endpoint := range endpoints {
		for _, address := range endpoint.Addresses {
			if len(list) < max {
				list = append(list, address)
			} else if len(list) == max {
				more = true
			}
			count++
		}
	}
	return listWithMoreString(list, more, count, max)
}
