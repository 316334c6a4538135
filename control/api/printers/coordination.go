package printers

import (
	"reflect"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var leaseColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Holder", Type: "string", Description: coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]},
	ageColumn,
}

// addCoordinationHandlers registers the printers of the coordination.k8s.io/v1 types.
func addCoordinationHandlers(h map[reflect.Type]handler) {
	register(h, leaseColumns, func(l *coordinationv1.LeaseList) []coordinationv1.Lease { return l.Items }, printLease)
}

func printLease(l *coordinationv1.Lease, now time.Time) metav1.TableRow {
	var holder string
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	return metav1.TableRow{Cells: []any{l.Name, holder, age(l.CreationTimestamp, now)}}
}
