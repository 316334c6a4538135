package apiserver

import (
	"fmt"
	"net/http"
	"strings"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/control/registry"
)

// fieldManagerName is the request's fieldManager, or, as kube-apiserver
// does, the user agent up to its first "/" (client-go's "kubectl/v1.32..."
// becomes "kubectl").
func fieldManagerName(r *http.Request) (string, error) {
	name := r.URL.Query().Get("fieldManager")
	if name == "" {
		ua := r.Header.Get("User-Agent")
		name, _, _ = strings.Cut(ua, "/")
		if len(name) > 128 {
			name = name[:128]
		}
		return strings.Map(func(c rune) rune {
			if unicode.IsPrint(c) {
				return c
			}
			return -1
		}, name), nil
	}
	if len(name) > 128 {
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldManager must not be longer than 128 characters, got %d", len(name)))
	}
	for _, c := range name {
		if !unicode.IsPrint(c) {
			return "", apierrors.NewBadRequest("fieldManager must only contain printable characters")
		}
	}
	return name, nil
}

// apply serves a server-side apply (PATCH with application/apply-patch+yaml):
// the configuration is merged into the live object, or creates it, with
// field ownership conflicts as 409s unless force=true.
func (h *rest) apply(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output, sub string) error {
	res := s.Resource()
	if h.fields == nil {
		return unsupportedMediaType(mediaApplyPatch)
	}
	manager := r.URL.Query().Get("fieldManager")
	if manager == "" {
		return apierrors.NewInvalid(res.Kind.GroupKind(), info.Name, field.ErrorList{
			field.Required(field.NewPath("fieldManager"), "is required for apply requests")})
	}
	if _, err := fieldManagerName(r); err != nil {
		return err
	}
	force := r.URL.Query().Get("force") == "true"
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	cfg := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(body, &cfg.Object); err != nil || cfg.Object == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	if gvk := cfg.GroupVersionKind(); gvk != res.Kind {
		return apierrors.NewBadRequest(fmt.Sprintf("the kind in the body (%s, %s) does not match the kind of the URL (%s, %s)",
			gvk.Kind, gvk.GroupVersion(), res.Kind.Kind, res.Kind.GroupVersion()))
	}
	if cfg.GetName() != info.Name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name in the body (%q) does not match the name on the URL (%q)", cfg.GetName(), info.Name))
	}
	if ns := cfg.GetNamespace(); ns != "" && ns != info.Namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	merge := func(live runtime.Object) (runtime.Object, error) {
		return h.fields.Apply(res.Kind, live, cfg.DeepCopy(), manager, sub, force)
	}
	obj, created, err := s.Update(r.Context(), info.Namespace, info.Name, func(cur runtime.Object) (runtime.Object, error) {
		live := cur
		if live == nil {
			fresh := res.New()
			m, _ := fresh.(interface {
				SetName(string)
				SetNamespace(string)
			})
			m.SetName(info.Name)
			m.SetNamespace(info.Namespace)
			live = fresh
		}
		merged, err := merge(live)
		if err != nil {
			return nil, err
		}
		if cur != nil {
			// Unconditional unless the configuration names a version.
			mm, _ := merged.(interface{ SetResourceVersion(string) })
			mm.SetResourceVersion(cfg.GetResourceVersion())
		}
		return merged, nil
	}, registry.UpdateOptions{DryRun: dry, Subresource: sub, FieldManager: manager, Applied: true, CreateMissing: true})
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeObject(w, r, code, obj, out)
	return nil
}
