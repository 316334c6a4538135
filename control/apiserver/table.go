package apiserver

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/api/printers"
)

// toTable renders obj (an object or a list) as kubectl's table.
func toTable(obj runtime.Object, opts metav1.TableOptions, now time.Time) (*metav1.Table, error) {
	return printers.Table(obj, opts, now)
}
