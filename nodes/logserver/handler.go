package logserver

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiff-sh/skiff/nodes/podlogs"
)

// Handler serves GET /containerLogs/{namespace}/{pod}/{container} and
// GET /healthz.
//
// Logs need auth to accept the request (401 otherwise); a nil auth accepts
// every request. Errors are plain text, as kubelet's: 400 for bad query
// parameters or names and for a container that has not started, 404 for a
// pod, container or previous instance that does not exist. A log is
// text/plain; with follow=true the headers are sent at once and every line
// is flushed as it is read, until the client goes away or the instance
// exits and its file is drained.
func Handler(loc Locator, auth func(*http.Request) bool, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &server{loc: loc, auth: auth, log: logger, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.containerLogs)
	return mux
}

// BearerToken returns an auth function for Handler that accepts requests
// carrying "Authorization: Bearer <token>". An empty token accepts none.
func BearerToken(token string) func(*http.Request) bool {
	want := []byte(token)
	return func(r *http.Request) bool {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && len(want) > 0 && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) == 1
	}
}

type server struct {
	loc  Locator
	auth func(*http.Request) bool
	log  *slog.Logger
	now  func() time.Time
}

func (s *server) containerLogs(w http.ResponseWriter, r *http.Request) {
	if s.auth != nil && !s.auth(r) {
		httpError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	if err := validNames(ns, pod, container); err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	opts, err := DecodeOptions(r.URL.Query())
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	loc, err := s.loc.Locate(r.Context(), ns, pod, container, opts.Previous)
	switch {
	case errors.Is(err, ErrNotStarted):
		httpError(w, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, ErrPodNotFound), errors.Is(err, ErrContainerNotFound), errors.Is(err, ErrNoPrevious):
		httpError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		s.log.Error("locating container log", "namespace", ns, "pod", pod, "container", container, "previous", opts.Previous, "err", err)
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	ro := s.readOptions(opts, loc)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	out := &trackingWriter{w: w}
	if opts.Follow {
		// Headers now: a client waits for them before it reads the stream.
		w.WriteHeader(http.StatusOK)
		out.flush = http.NewResponseController(w).Flush
		if err := out.flush(); err != nil {
			s.log.Debug("flushing log headers", "err", err)
		}
		out.wrote = true
	}
	err = podlogs.Read(r.Context(), loc.Path, ro, out)
	switch {
	case err == nil:
	case !out.wrote && errors.Is(err, podlogs.ErrNoLog):
		httpError(w, http.StatusNotFound, fmt.Sprintf("container %q in pod %q has no log file", container, pod))
	case !out.wrote:
		s.log.Error("reading container log", "path", loc.Path, "err", err)
		httpError(w, http.StatusInternalServerError, err.Error())
	case r.Context().Err() == nil:
		// The status is sent; all that is left is to end the stream.
		s.log.Warn("container log stream ended early", "path", loc.Path, "err", err)
	}
}

// readOptions maps PodLogOptions onto podlogs.Options.
func (s *server) readOptions(o *corev1.PodLogOptions, loc Location) podlogs.Options {
	ro := podlogs.Options{Follow: o.Follow, Timestamps: o.Timestamps, TailLines: o.TailLines, LimitBytes: o.LimitBytes, Exited: loc.Exited}
	switch {
	case o.SinceTime != nil:
		t := o.SinceTime.Time
		ro.SinceTime = &t
	case o.SinceSeconds != nil:
		t := s.now().Add(-time.Duration(*o.SinceSeconds) * time.Second)
		ro.SinceTime = &t
	}
	return ro
}

// trackingWriter remembers whether the body started, and flushes every
// write when flush is set.
type trackingWriter struct {
	w     io.Writer
	flush func() error
	wrote bool
}

func (t *trackingWriter) Write(p []byte) (int, error) {
	t.wrote = true
	n, err := t.w.Write(p)
	if err == nil && t.flush != nil {
		err = t.flush()
	}
	return n, err
}

func httpError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

// validNames checks the path's names as Kubernetes names them, which also
// keeps them from naming anything outside the log directory.
func validNames(namespace, pod, container string) error {
	for _, c := range []struct {
		what, v string
		errs    []string
	}{
		{"namespace", namespace, validation.IsDNS1123Label(namespace)},
		{"pod name", pod, validation.IsDNS1123Subdomain(pod)},
		{"container name", container, validation.IsDNS1123Label(container)},
	} {
		if len(c.errs) > 0 {
			return fmt.Errorf("invalid %s %q: %s", c.what, c.v, strings.Join(c.errs, "; "))
		}
	}
	return nil
}

// DecodeOptions decodes kubelet's /containerLogs query into PodLogOptions
// as the API server's parameter codec does (booleans are true unless "0" or
// "false"; sinceTime is RFC 3339), accepts the legacy tail=N|all, and
// validates it as kube-apiserver does. Stream selection (stream=Stdout or
// Stderr) is not supported and is an error.
func DecodeOptions(q url.Values) (*corev1.PodLogOptions, error) {
	if tail := q.Get("tail"); tail != "" {
		q = cloneValues(q)
		if tail == "all" {
			delete(q, "tailLines")
		} else {
			q["tailLines"] = []string{tail}
		}
	}
	o := &corev1.PodLogOptions{}
	for _, f := range []struct {
		key  string
		conv func([]string) error
	}{
		{"container", func(v []string) error { return runtime.Convert_Slice_string_To_string(&v, &o.Container, nil) }},
		{"follow", func(v []string) error { return runtime.Convert_Slice_string_To_bool(&v, &o.Follow, nil) }},
		{"previous", func(v []string) error { return runtime.Convert_Slice_string_To_bool(&v, &o.Previous, nil) }},
		{"sinceSeconds", func(v []string) error { return runtime.Convert_Slice_string_To_Pointer_int64(&v, &o.SinceSeconds, nil) }},
		{"sinceTime", func(v []string) error { return metav1.Convert_Slice_string_To_Pointer_v1_Time(&v, &o.SinceTime, nil) }},
		{"timestamps", func(v []string) error { return runtime.Convert_Slice_string_To_bool(&v, &o.Timestamps, nil) }},
		{"tailLines", func(v []string) error { return runtime.Convert_Slice_string_To_Pointer_int64(&v, &o.TailLines, nil) }},
		{"limitBytes", func(v []string) error { return runtime.Convert_Slice_string_To_Pointer_int64(&v, &o.LimitBytes, nil) }},
		{"insecureSkipTLSVerifyBackend", func(v []string) error {
			return runtime.Convert_Slice_string_To_bool(&v, &o.InsecureSkipTLSVerifyBackend, nil)
		}},
		{"stream", func(v []string) error { s := v[0]; o.Stream = &s; return nil }},
	} {
		if v, ok := q[f.key]; ok && len(v) > 0 {
			if err := f.conv(v); err != nil {
				return nil, fmt.Errorf("invalid query parameter %s=%q: %v", f.key, v[0], err)
			}
		}
	}
	if err := ValidateOptions(o); err != nil {
		return nil, err
	}
	return o, nil
}

// ValidateOptions checks PodLogOptions as kube-apiserver's
// ValidatePodLogOptions does, and refuses stream selection.
func ValidateOptions(o *corev1.PodLogOptions) error {
	var errs []error
	if o.TailLines != nil && *o.TailLines < 0 {
		errs = append(errs, fmt.Errorf("tailLines: Invalid value: %d: must be greater than or equal to 0", *o.TailLines))
	}
	if o.LimitBytes != nil && *o.LimitBytes < 1 {
		errs = append(errs, fmt.Errorf("limitBytes: Invalid value: %d: must be greater than 0", *o.LimitBytes))
	}
	switch {
	case o.SinceSeconds != nil && o.SinceTime != nil:
		errs = append(errs, errors.New("at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case o.SinceSeconds != nil && *o.SinceSeconds < 1:
		errs = append(errs, fmt.Errorf("sinceSeconds: Invalid value: %d: must be greater than 0", *o.SinceSeconds))
	}
	if o.Stream != nil && *o.Stream != corev1.LogStreamAll {
		errs = append(errs, fmt.Errorf("stream: Unsupported value: %q: Skiff nodes serve both streams together (%q)", *o.Stream, corev1.LogStreamAll))
	}
	return errors.Join(errs...)
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = v
	}
	return out
}
