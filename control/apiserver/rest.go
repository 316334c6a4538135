package apiserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/control/api/scheme"
	"github.com/skiff-sh/skiff/control/fieldmanager"
	"github.com/skiff-sh/skiff/control/registry"
)

// rest serves the resources: it parses the URL, negotiates formats, decodes
// bodies and calls the registry.
type rest struct {
	reg *registry.Registry
	// fields merges server-side apply requests (nil: apply is refused).
	fields *fieldmanager.Manager
	// logs proxies pods/log to the node daemons.
	logs   *podLogs
	logger *slog.Logger
}

func (h *rest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info, ok := parseRequestInfo(r)
	if !ok {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
		return
	}
	s := h.reg.Store(schema.GroupVersionResource{Group: info.Group, Version: info.Version, Resource: info.Resource})
	if s == nil {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
		return
	}
	res := s.Resource()
	if !res.Namespaced && info.Namespace != "" {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
		return
	}
	if info.Subresource == "log" && res.Kind.Kind == "Pod" {
		h.serveLog(w, r, s, info) // text/plain, whatever the Accept header says
		return
	}
	r = withBodyLimit(r, res.MaxBodyBytes)
	// Protobuf responses for everything but watch streams, which are JSON
	// (clients that accept protobuf accept JSON too), and for types that
	// have a protobuf encoding.
	out, ok := negotiateOutput(r.Header.Get("Accept"), info.Verb != "watch" && hasProtobuf(res))
	if !ok {
		writeStatus(w, http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable,
			"only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf, application/json;as=Table;v=v1;g=meta.k8s.io")
		return
	}
	if info.Subresource != "" {
		h.serveSubresource(w, r, s, info, out)
		return
	}
	var err error
	switch info.Verb {
	case "get":
		err = h.get(w, r, s, info, out)
	case "list":
		err = h.list(w, r, s, info, out)
	case "watch":
		err = h.watch(w, r, s, info, out)
	case "create":
		if info.Name != "" {
			err = apierrors.NewMethodNotSupported(res.GroupResource(), "create with a name in the URL")
			break
		}
		err = h.create(w, r, s, info, out)
	case "update":
		err = h.update(w, r, s, info, out, "")
	case "patch":
		err = h.patch(w, r, s, info, out, "")
	case "delete":
		err = h.delete(w, r, s, info, out)
	case "deletecollection":
		err = h.deleteCollection(w, r, s, info, out)
	default:
		err = apierrors.NewMethodNotSupported(res.GroupResource(), r.Method)
	}
	if err != nil {
		h.fail(w, r, err)
	}
}

// hasProtobuf reports whether the resource's type has a Kubernetes protobuf
// encoding: k8s.io/api types do, Skiff's own group (skiff.dev) does not.
func hasProtobuf(res *registry.Resource) bool {
	_, ok := res.New().(interface {
		Marshal() ([]byte, error)
		Unmarshal([]byte) error
	})
	return ok
}

// fail answers err; errors that are not the client's are logged.
func (h *rest) fail(w http.ResponseWriter, r *http.Request, err error) {
	if code := apierrors.ReasonForError(err); code == metav1.StatusReasonInternalError || code == metav1.StatusReasonUnknown {
		h.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, err)
}

func (h *rest) get(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output) error {
	obj, err := s.Get(r.Context(), info.Namespace, info.Name)
	if err != nil {
		return err
	}
	writeObject(w, r, http.StatusOK, obj, out)
	return nil
}

// listOptions decodes the query into ListOptions.
func listOptions(r *http.Request) (metav1.ListOptions, error) {
	var opts metav1.ListOptions
	if err := scheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &opts); err != nil {
		return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid query: %v", err))
	}
	return opts, nil
}

func (h *rest) list(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	list, err := s.List(r.Context(), info.Namespace, opts)
	if err != nil {
		return err
	}
	writeObject(w, r, http.StatusOK, list, out)
	return nil
}

// dryRun reports dryRun=All; any other value is a 400.
func dryRun(r *http.Request) (bool, error) {
	vals := r.URL.Query()["dryRun"]
	for _, v := range vals {
		if v != metav1.DryRunAll {
			return false, apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q, only All is supported", v))
		}
	}
	return len(vals) > 0, nil
}

// setWarnings adds the Warning headers Kubernetes clients print.
func setWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", `299 - "`+strings.ReplaceAll(msg, `"`, `\"`)+`"`)
	}
}

// writeRequest is what a request that writes an object carries besides
// its URL.
type writeRequest struct {
	obj      runtime.Object
	warnings []string // unknown or duplicate fields under fieldValidation=Warn
	dryRun   bool
	manager  string
}

// readWrite reads and decodes the body of a create or update as a want
// (decoded into into) with the request's fieldValidation, dryRun and
// field manager.
func readWrite(r *http.Request, want schema.GroupVersionKind, into runtime.Object) (*writeRequest, error) {
	validation, err := fieldValidation(r)
	if err != nil {
		return nil, err
	}
	wr := &writeRequest{}
	if wr.dryRun, err = dryRun(r); err != nil {
		return nil, err
	}
	if wr.manager, err = fieldManagerName(r); err != nil {
		return nil, err
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if wr.obj, wr.warnings, err = decodeBody(body, r.Header.Get("Content-Type"), want, into, validation); err != nil {
		return nil, err
	}
	return wr, nil
}

func (h *rest) create(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output) error {
	res := s.Resource()
	wr, err := readWrite(r, res.Kind, res.New())
	if err != nil {
		return err
	}
	created, err := s.Create(r.Context(), info.Namespace, wr.obj, registry.CreateOptions{DryRun: wr.dryRun, FieldManager: wr.manager})
	if err != nil {
		return err
	}
	setWarnings(w, wr.warnings)
	writeObject(w, r, http.StatusCreated, created, out)
	return nil
}

func (h *rest) update(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output, sub string) error {
	res := s.Resource()
	wr, err := readWrite(r, res.Kind, res.New())
	if err != nil {
		return err
	}
	updated, created, err := s.Update(r.Context(), info.Namespace, info.Name, func(runtime.Object) (runtime.Object, error) {
		return wr.obj.DeepCopyObject(), nil
	}, registry.UpdateOptions{DryRun: wr.dryRun, Subresource: sub, FieldManager: wr.manager})
	if err != nil {
		return err
	}
	setWarnings(w, wr.warnings)
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeObject(w, r, code, updated, out)
	return nil
}

func (h *rest) delete(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output) error {
	opts, err := deleteOptions(r)
	if err != nil {
		return err
	}
	obj, _, err := s.Delete(r.Context(), info.Namespace, info.Name, opts)
	if err != nil {
		return err
	}
	writeObject(w, r, http.StatusOK, obj, out)
	return nil
}

// deleteOptions reads DeleteOptions from the body (if any) and the query.
func deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		body, err := readBody(r)
		if err == nil {
			if _, _, err := scheme.JSON.Decode(body, &schema.GroupVersionKind{Version: "v1", Kind: "DeleteOptions"}, opts); err != nil {
				// Protobuf DeleteOptions bodies.
				if _, _, perr := scheme.Protobuf.Decode(body, nil, opts); perr != nil {
					return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions body: %v", err))
				}
			}
		} else if !apierrors.IsBadRequest(err) {
			return nil, err
		}
	}
	if err := scheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid query: %v", err))
	}
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q, only All is supported", v))
		}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	return opts, nil
}

func (h *rest) deleteCollection(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output) error {
	opts, err := deleteOptions(r)
	if err != nil {
		return err
	}
	lopts, err := listOptions(r)
	if err != nil {
		return err
	}
	list, err := s.List(r.Context(), info.Namespace, lopts)
	if err != nil {
		return err
	}
	items, err := metaItems(list)
	if err != nil {
		return err
	}
	for _, m := range items {
		if _, _, err := s.Delete(r.Context(), m.GetNamespace(), m.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	writeObject(w, r, http.StatusOK, list, out)
	return nil
}

// watchTimeout is how long a watch without timeoutSeconds lasts: a random
// time in [30, 60) minutes, as kube-apiserver's default
// --min-request-timeout gives, so clients re-establish watches spread out.
func watchTimeout(r *http.Request) (time.Duration, error) {
	if v := r.URL.Query().Get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q", v))
		}
		if n > 0 {
			return time.Duration(n) * time.Second, nil
		}
	}
	return 30*time.Minute + time.Duration(time.Now().UnixNano()%int64(30*time.Minute)), nil
}
