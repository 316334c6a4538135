package printers

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// now is the fixed time every test measures ages from.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ago returns the time d before now.
func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// agoPtr is ago as a pointer, for deletion timestamps.
func agoPtr(d time.Duration) *metav1.Time {
	t := ago(d)
	return &t
}

func ptr[T any](v T) *T { return &v }

// objMeta returns object metadata named name, created five minutes before now.
func objMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(5 * time.Minute)}
}

// mustTable converts obj or fails the test.
func mustTable(t *testing.T, obj runtime.Object, opts metav1.TableOptions) *metav1.Table {
	t.Helper()
	table, err := Table(obj, opts, now)
	if err != nil {
		t.Fatalf("Table(%T): %v", obj, err)
	}
	return table
}

// rowCells returns the cells of the single row obj prints as.
func rowCells(t *testing.T, obj runtime.Object) []any {
	t.Helper()
	table := mustTable(t, obj, metav1.TableOptions{})
	if len(table.Rows) != 1 {
		t.Fatalf("Table(%T) has %d rows, want 1", obj, len(table.Rows))
	}
	return table.Rows[0].Cells
}

// columnNames returns the names of the columns kubectl shows, with or
// without -o wide.
func columnNames(table *metav1.Table, wide bool) []string {
	var names []string
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 || wide {
			names = append(names, c.Name)
		}
	}
	return names
}

// checkCells fails the test unless got equals want, cell by cell and type by type.
func checkCells(t *testing.T, got, want []any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells:\n got %#v\nwant %#v", got, want)
	}
}
