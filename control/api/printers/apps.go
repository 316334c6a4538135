package printers

import (
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The descriptions come from extensions/v1beta1, as in Kubernetes.
var (
	deploymentColumns = []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		{Name: "Up-to-date", Type: "string", Description: extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]},
		{Name: "Available", Type: "string", Description: extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]},
		ageColumn,
		{Name: "Containers", Type: "string", Priority: 1, Description: containersDoc},
		{Name: "Images", Type: "string", Priority: 1, Description: imagesDoc},
		{Name: "Selector", Type: "string", Priority: 1, Description: extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()["selector"]},
	}
	replicaSetColumns = []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Desired", Type: "integer", Description: extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]},
		{Name: "Current", Type: "integer", Description: extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]},
		{Name: "Ready", Type: "integer", Description: extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]},
		ageColumn,
		{Name: "Containers", Type: "string", Priority: 1, Description: containersDoc},
		{Name: "Images", Type: "string", Priority: 1, Description: imagesDoc},
		{Name: "Selector", Type: "string", Priority: 1, Description: extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()["selector"]},
	}
)

// addAppsHandlers registers the printers of the apps/v1 types.
func addAppsHandlers(h map[reflect.Type]handler) {
	register(h, deploymentColumns, func(l *appsv1.DeploymentList) []appsv1.Deployment { return l.Items }, printDeployment)
	register(h, replicaSetColumns, func(l *appsv1.ReplicaSetList) []appsv1.ReplicaSet { return l.Items }, printReplicaSet)
}

// replicas returns *p, or 0 when unset, as converting to Kubernetes' internal
// type (whose replicas are not a pointer) would. Stored objects are defaulted.
func replicas(p *int32) int64 {
	if p == nil {
		return 0
	}
	return int64(*p)
}

func printDeployment(d *appsv1.Deployment, now time.Time) metav1.TableRow {
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	containers, images := layoutContainerCells(d.Spec.Template.Spec.Containers)
	return metav1.TableRow{Cells: []any{
		d.Name,
		fmt.Sprintf("%d/%d", int64(d.Status.ReadyReplicas), replicas(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		age(d.CreationTimestamp, now),
		containers, images, selector,
	}}
}

func printReplicaSet(rs *appsv1.ReplicaSet, now time.Time) metav1.TableRow {
	containers, images := layoutContainerCells(rs.Spec.Template.Spec.Containers)
	return metav1.TableRow{Cells: []any{
		rs.Name,
		replicas(rs.Spec.Replicas),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp, now),
		containers, images, metav1.FormatLabelSelector(rs.Spec.Selector),
	}}
}
