package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-sh/skiff/control/registry"
)

// watch streams events as kube-apiserver does over HTTP/1.1 chunks or
// HTTP/2 data frames: one JSON WatchEvent per line, flushed as it comes.
func (h *rest) watch(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	if out.mediaType == mediaYAML {
		// Kubernetes streams watches as JSON for YAML clients too.
		out.mediaType = mediaJSON
	}
	timeout, err := watchTimeout(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	wi, err := s.Watch(ctx, info.Namespace, opts)
	if err != nil {
		return err
	}
	defer wi.Stop()
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", out.mediaType)
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	enc := encoderFor(out)
	first := true
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return nil
			}
			obj := ev.Object
			if ev.Type != watch.Error && ev.Type != watch.Bookmark {
				if obj, err = transform(obj, out, r, first); err != nil {
					h.logger.Error("watch: transform", "err", err)
					return nil
				}
				first = false
			} else if ev.Type == watch.Bookmark && out.kind != outputObject {
				obj = bookmarkFor(ev.Object, out)
			}
			if st, ok := obj.(*metav1.Status); ok {
				// Clients decode ERROR events by kind (a 410 makes informers
				// re-list).
				st.APIVersion, st.Kind = "v1", "Status"
			}
			buf.Reset()
			if err := enc.Encode(obj, &buf); err != nil {
				h.logger.Error("watch: encode", "err", err)
				return nil
			}
			line, err := json.Marshal(metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: bytes.TrimSpace(buf.Bytes())}})
			if err != nil {
				return nil
			}
			if _, err := w.Write(append(line, '\n')); err != nil {
				return nil
			}
			if flusher != nil && len(wi.ResultChan()) == 0 {
				flusher.Flush()
			}
		}
	}
}

// bookmarkFor carries a bookmark's resourceVersion (and annotations) in the
// kind the client watches: a Table or PartialObjectMetadata.
func bookmarkFor(obj runtime.Object, out output) runtime.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		return obj
	}
	pm := metav1.ObjectMeta{ResourceVersion: m.GetResourceVersion(), Annotations: m.GetAnnotations()}
	if out.kind == outputTable {
		return &metav1.Table{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/" + out.version, Kind: "Table"},
			ListMeta: metav1.ListMeta{ResourceVersion: pm.ResourceVersion}}
	}
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/" + out.version, Kind: "PartialObjectMetadata"}, ObjectMeta: pm}
}

// metaItems returns the metadata of a list's items.
func metaItems(list runtime.Object) ([]metav1.Object, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("list items: %w", err))
	}
	out := make([]metav1.Object, 0, len(items))
	for _, it := range items {
		m, err := meta.Accessor(it)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		out = append(out, m)
	}
	return out, nil
}
