package printers

import (
	"reflect"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// scaleColumns are Kubernetes' columns for the scale subresource; unlike the
// others its Name column carries no "name" format.
var scaleColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Description: objectMetaDoc["name"]},
	{Name: "Desired", Type: "integer", Description: autoscalingv1.ScaleSpec{}.SwaggerDoc()["replicas"]},
	{Name: "Available", Type: "integer", Description: autoscalingv1.ScaleStatus{}.SwaggerDoc()["replicas"]},
	ageColumn,
}

// addAutoscalingHandlers registers the printer of autoscaling/v1 Scale.
func addAutoscalingHandlers(h map[reflect.Type]handler) {
	registerOne(h, scaleColumns, printScale)
}

func printScale(s *autoscalingv1.Scale, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []any{s.Name, int64(s.Spec.Replicas), int64(s.Status.Replicas), age(s.CreationTimestamp, now)}}
}
