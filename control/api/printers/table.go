package printers

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// ErrNotAcceptable reports an object that cannot be shown as a Table
	// (it has no object metadata). kube-apiserver answers 406 Not Acceptable.
	ErrNotAcceptable = errors.New("printers: object does not support being converted to a Table")
	// ErrInvalidIncludeObject reports a TableOptions.IncludeObject value other
	// than None, Metadata, Object or empty. kube-apiserver answers 400 Bad Request.
	ErrInvalidIncludeObject = errors.New("printers: unrecognized includeObject value")
)

// tableGVK is the kind every Table carries, so that clients (kubectl decodes
// the response as unstructured and checks apiVersion/kind) recognise it.
var tableGVK = metav1.SchemeGroupVersion.WithKind("Table")

// Table converts obj (a single object or a list such as *corev1.PodList) into
// a meta.k8s.io/v1 Table, as kube-apiserver's TableConvertor followed by its
// includeObject handling would.
//
// The table always carries every column, including the -o wide (Priority 1)
// ones; opts.NoHeaders omits the column definitions. opts.IncludeObject
// decides each row's Object: none, a meta.k8s.io/v1 PartialObjectMetadata
// (the default, also for ""), or a copy of the full object with its
// apiVersion and kind set. Ages are measured from now. obj is never
// modified, though metadata rows share its label and annotation maps.
func Table(obj runtime.Object, opts metav1.TableOptions, now time.Time) (*metav1.Table, error) {
	if obj == nil || (reflect.ValueOf(obj).Kind() == reflect.Pointer && reflect.ValueOf(obj).IsNil()) {
		return nil, fmt.Errorf("%w: nil object", ErrNotAcceptable)
	}
	switch opts.IncludeObject {
	case "", metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
	default:
		return nil, fmt.Errorf("%w: %q", ErrInvalidIncludeObject, opts.IncludeObject)
	}

	var table *metav1.Table
	var err error
	if h, ok := handlers[reflect.TypeOf(obj)]; ok {
		table = &metav1.Table{Rows: h.rows(obj, now)}
		if !opts.NoHeaders {
			table.ColumnDefinitions = h.columns
		}
	} else {
		table, err = defaultTable(obj, opts.NoHeaders)
		if err != nil {
			return nil, err
		}
	}
	table.TypeMeta = metav1.TypeMeta{APIVersion: tableGVK.GroupVersion().String(), Kind: tableGVK.Kind}
	setListMeta(table, obj)

	for i := range table.Rows {
		row := &table.Rows[i]
		switch opts.IncludeObject {
		case metav1.IncludeObject:
			full, err := withKind(row.Object.Object)
			if err != nil {
				return nil, err
			}
			row.Object.Object = full
		case metav1.IncludeMetadata, "":
			m, err := meta.Accessor(row.Object.Object)
			if err != nil {
				return nil, fmt.Errorf("%w: %T: %w", ErrNotAcceptable, row.Object.Object, err)
			}
			partial := meta.AsPartialObjectMetadata(m)
			partial.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
			row.Object.Object = partial
		case metav1.IncludeNone:
			row.Object.Object = nil
		}
	}
	return table, nil
}

// WatchConverter converts the objects of one watch stream into Tables. Like
// kube-apiserver's watch encoder it sends column definitions with the first
// event only (whatever that event is, bookmarks and errors included) and
// omits them from every later event. It is not safe for concurrent use.
type WatchConverter struct {
	opts metav1.TableOptions
	now  func() time.Time
}

// NewWatchConverter returns a WatchConverter for a watch requested with opts.
// now supplies the time ages are measured from; nil means time.Now.
func NewWatchConverter(opts metav1.TableOptions, now func() time.Time) *WatchConverter {
	if now == nil {
		now = time.Now
	}
	return &WatchConverter{opts: opts, now: now}
}

// Convert returns the Table for one watch event's object. A *metav1.Status
// (an ERROR event) is returned unchanged, as kube-apiserver does. On error
// the caller should send the untransformed object, as kube-apiserver does.
func (w *WatchConverter) Convert(obj runtime.Object) (runtime.Object, error) {
	opts := w.opts
	w.opts.NoHeaders = true
	if status, ok := obj.(*metav1.Status); ok {
		return status, nil
	}
	return Table(obj, opts, w.now())
}

// defaultTable is kube-apiserver's default TableConvertor
// (k8s.io/apiserver/pkg/registry/rest/table.go): Name and Created At.
func defaultTable(obj runtime.Object, noHeaders bool) (*metav1.Table, error) {
	table := &metav1.Table{}
	row := func(o runtime.Object) error {
		m, err := meta.Accessor(o)
		if err != nil {
			return fmt.Errorf("%w: %T: %w", ErrNotAcceptable, o, err)
		}
		table.Rows = append(table.Rows, metav1.TableRow{
			Cells:  []any{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)},
			Object: runtime.RawExtension{Object: o},
		})
		return nil
	}
	if meta.IsListType(obj) {
		if err := meta.EachListItem(obj, row); err != nil {
			return nil, err
		}
	} else if err := row(obj); err != nil {
		return nil, err
	}
	if !noHeaders {
		table.ColumnDefinitions = []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]},
			{Name: "Created At", Type: "date", Description: objectMetaDoc["creationTimestamp"]},
		}
	}
	return table, nil
}

// setListMeta copies resourceVersion, continue and remainingItemCount from a
// list, or the resourceVersion from a single object, as kube-apiserver does.
func setListMeta(table *metav1.Table, obj runtime.Object) {
	if m, err := meta.ListAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
		table.Continue = m.GetContinue()
		table.RemainingItemCount = m.GetRemainingItemCount()
		return
	}
	if m, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
}

// kinds knows the apiVersion and kind of every type this package prints, so
// that IncludeObject rows carry them as kube-apiserver's conversion would.
var kinds = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv1.AddToScheme,
		coordinationv1.AddToScheme, discoveryv1.AddToScheme, eventsv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("printers: building scheme: %v", err))
		}
	}
	return s
}()

// withKind returns a deep copy of obj with its apiVersion and kind set. Types
// unknown to the package keep whatever apiVersion and kind they carry.
func withKind(obj runtime.Object) (runtime.Object, error) {
	if obj == nil {
		return nil, nil
	}
	out := obj.DeepCopyObject()
	if !out.GetObjectKind().GroupVersionKind().Empty() {
		return out, nil
	}
	gvks, _, err := kinds.ObjectKinds(out)
	if err != nil {
		if runtime.IsNotRegisteredError(err) {
			return out, nil
		}
		return nil, fmt.Errorf("printers: kind of %T: %w", obj, err)
	}
	out.GetObjectKind().SetGroupVersionKind(preferred(gvks))
	return out, nil
}

// preferred picks a non-internal kind from the candidates of a type.
func preferred(gvks []schema.GroupVersionKind) schema.GroupVersionKind {
	for _, gvk := range gvks {
		if gvk.Version != runtime.APIVersionInternal {
			return gvk
		}
	}
	return gvks[0]
}

// handler prints one Go type: its columns and a function producing its rows.
type handler struct {
	columns []metav1.TableColumnDefinition
	rows    func(obj runtime.Object, now time.Time) []metav1.TableRow
}

// handlers maps the pointer type of each printed object and list to its
// handler. It is filled once at package initialisation and only read after.
var handlers = func() map[reflect.Type]handler {
	h := map[reflect.Type]handler{}
	addCoreHandlers(h)
	addAppsHandlers(h)
	addDiscoveryHandlers(h)
	addEventsHandlers(h)
	addCoordinationHandlers(h)
	addAutoscalingHandlers(h)
	return h
}()

// register adds a printer for the object type PT and its list type LT, whose
// items are returned by items. print fills the row's cells and conditions;
// register sets the row's Object.
func register[T any, PT interface {
	*T
	runtime.Object
}, LT runtime.Object](h map[reflect.Type]handler, columns []metav1.TableColumnDefinition, items func(LT) []T, print func(PT, time.Time) metav1.TableRow) {
	registerOne(h, columns, print)
	h[reflect.TypeFor[LT]()] = handler{columns: columns, rows: func(obj runtime.Object, now time.Time) []metav1.TableRow {
		list := items(obj.(LT))
		rows := make([]metav1.TableRow, 0, len(list))
		for i := range list {
			item := PT(&list[i])
			row := print(item, now)
			row.Object = runtime.RawExtension{Object: item}
			rows = append(rows, row)
		}
		return rows
	}}
}

// registerOne adds a printer for a type that has no list type.
func registerOne[PT runtime.Object](h map[reflect.Type]handler, columns []metav1.TableColumnDefinition, print func(PT, time.Time) metav1.TableRow) {
	h[reflect.TypeFor[PT]()] = handler{columns: columns, rows: func(obj runtime.Object, now time.Time) []metav1.TableRow {
		row := print(obj.(PT), now)
		row.Object = runtime.RawExtension{Object: obj}
		return []metav1.TableRow{row}
	}}
}
