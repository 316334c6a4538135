package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/control/registry"
)

// patcher applies one PATCH request's body to an object of kind gvk.
type patcher struct {
	kind       string // the patch media type
	body       []byte
	gvk        schema.GroupVersionKind
	newObj     func() runtime.Object
	validation string
	warnings   []string
}

func newPatcher(r *http.Request, gvk schema.GroupVersionKind, newObj func() runtime.Object) (*patcher, error) {
	validation, err := fieldValidation(r)
	if err != nil {
		return nil, err
	}
	media, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, unsupportedMediaType(r.Header.Get("Content-Type"))
	}
	switch media {
	case mediaJSONPatch, mediaMergePatch, mediaStrategicPatch:
	default:
		return nil, unsupportedMediaType(media)
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return &patcher{kind: media, body: body, gvk: gvk, newObj: newObj, validation: validation}, nil
}

// apply patches cur and returns the new object. Unless the patch names a
// resourceVersion, the result carries none, so the update is unconditional
// and retried on conflict, as kube-apiserver retries patches.
func (p *patcher) apply(cur runtime.Object) (runtime.Object, error) {
	doc, err := json.Marshal(cur)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("patch: encode current object: %w", err))
	}
	var patched []byte
	switch p.kind {
	case mediaJSONPatch:
		ops, err := jsonpatch.DecodePatch(p.body)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the json patch is invalid: %v", err))
		}
		if patched, err = ops.Apply(doc); err != nil {
			return nil, apierrors.NewInvalid(p.gvk.GroupKind(), "", field.ErrorList{field.Invalid(field.NewPath("patch"), string(p.body), err.Error())})
		}
	case mediaMergePatch:
		if patched, err = jsonpatch.MergePatch(doc, p.body); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the merge patch is invalid: %v", err))
		}
	case mediaStrategicPatch:
		if patched, err = strategicpatch.StrategicMergePatch(doc, p.body, p.newObj()); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the strategic merge patch is invalid: %v", err))
		}
	}
	obj, warnings, err := decodeBody(patched, mediaJSON, p.gvk, p.newObj(), p.validation)
	if err != nil {
		return nil, err
	}
	p.warnings = warnings
	curMeta, _ := meta.Accessor(cur)
	newMeta, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if newMeta.GetResourceVersion() == curMeta.GetResourceVersion() {
		newMeta.SetResourceVersion("")
	}
	return obj, nil
}

func (h *rest) patch(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output, sub string) error {
	res := s.Resource()
	if media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); media == mediaApplyPatch {
		return h.apply(w, r, s, info, out, sub)
	}
	manager, err := fieldManagerName(r)
	if err != nil {
		return err
	}
	p, err := newPatcher(r, res.Kind, res.New)
	if err != nil {
		return err
	}
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	updated, _, err := s.Update(r.Context(), info.Namespace, info.Name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(res.GroupResource(), info.Name)
		}
		return p.apply(cur)
	}, registry.UpdateOptions{DryRun: dry, Subresource: sub, FieldManager: manager})
	if err != nil {
		return err
	}
	setWarnings(w, p.warnings)
	writeObject(w, r, http.StatusOK, updated, out)
	return nil
}
