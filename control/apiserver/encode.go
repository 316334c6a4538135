package apiserver

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/api/printers"
	"github.com/skiff-sh/skiff/control/api/scheme"
)

// encoderFor is the serializer of a negotiated media type.
func encoderFor(out output) runtime.Encoder {
	switch out.mediaType {
	case mediaYAML:
		return scheme.YAML
	case mediaProtobuf:
		return scheme.Protobuf
	}
	return scheme.JSON
}

// transform turns obj into what the client asked for: the object itself, a
// Table, or metadata only.
func transform(obj runtime.Object, out output, r *http.Request, withHeaders bool) (runtime.Object, error) {
	switch out.kind {
	case outputTable:
		opts := metav1.TableOptions{NoHeaders: !withHeaders}
		if v := r.URL.Query().Get("includeObject"); v != "" {
			opts.IncludeObject = metav1.IncludeObjectPolicy(v)
		}
		t, err := printers.Table(obj, opts, time.Now())
		if err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("table: %w", err))
		}
		t.APIVersion, t.Kind = "meta.k8s.io/"+out.version, "Table"
		return t, nil
	case outputMetadata:
		return toMetadata(obj, out.version)
	}
	return obj, nil
}

// toMetadata makes a PartialObjectMetadata(List) of obj.
func toMetadata(obj runtime.Object, version string) (runtime.Object, error) {
	gv := "meta.k8s.io/" + version
	if meta.IsListType(obj) {
		items, err := meta.ExtractList(obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		lm, _ := meta.ListAccessor(obj)
		list := &metav1.PartialObjectMetadataList{
			TypeMeta: metav1.TypeMeta{APIVersion: gv, Kind: "PartialObjectMetadataList"},
			ListMeta: metav1.ListMeta{ResourceVersion: lm.GetResourceVersion(), Continue: lm.GetContinue(), RemainingItemCount: lm.GetRemainingItemCount()},
		}
		for _, it := range items {
			p, err := partial(it, gv)
			if err != nil {
				return nil, err
			}
			list.Items = append(list.Items, *p)
		}
		return list, nil
	}
	return partial(obj, gv)
}

func partial(obj runtime.Object, gv string) (*metav1.PartialObjectMetadata, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	p := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: gv, Kind: "PartialObjectMetadata"}}
	if om, ok := m.(*metav1.ObjectMeta); ok {
		p.ObjectMeta = *om.DeepCopy()
	}
	return p, nil
}

// writeObject answers obj with code in the negotiated format.
func writeObject(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object, out output) {
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		scheme.SetKind(obj)
	}
	obj, err := transform(obj, out, r, true)
	if err != nil {
		writeError(w, err)
		return
	}
	var buf bytes.Buffer
	if err := encoderFor(out).Encode(obj, &buf); err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("encode response: %w", err)))
		return
	}
	w.Header().Set("Content-Type", out.mediaType)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
