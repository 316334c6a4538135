package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/control/registry"
)

// DefaultContainerAnnotation names the container `kubectl logs` and
// `kubectl exec` pick when none is given.
const DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// podLogs serves pods/log as kube-apiserver's LogREST does: it checks the
// options and the container, finds the pod's node, and streams the node
// daemon's /containerLogs answer (nodes/logserver) back.
//
// Nodes are reached over plain HTTP with a shared bearer token (NodeToken);
// mutual TLS between the API server and nodes is issue 6's.
type podLogs struct {
	reg    *registry.Registry
	token  string
	client *http.Client
	logger *slog.Logger
}

func newPodLogs(reg *registry.Registry, token string, rt http.RoundTripper, logger *slog.Logger) *podLogs {
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 nil, // never through an environment proxy
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: 30 * time.Second,
			DisableCompression:    true,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		}
	}
	return &podLogs{reg: reg, token: token, logger: logger, client: &http.Client{
		Transport: rt,
		// As kube-apiserver's PreventRedirects: a node's answer is final.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var podsLog = schema.GroupResource{Resource: "pods/log"}

// serveLog answers GET .../pods/{name}/log. Logs are text/plain whatever the
// Accept header says (kube-apiserver serves them to text/plain and */*, and
// clients accept them under their usual Accept); errors are Status objects.
func (h *rest) serveLog(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo) {
	if err := h.logs.serve(w, r, s, info); err != nil {
		h.fail(w, r, err)
	}
}

func (p *podLogs) serve(w http.ResponseWriter, r *http.Request, pods *registry.Store, info requestInfo) error {
	if info.Verb != "get" {
		return apierrors.NewMethodNotSupported(podsLog, info.Verb)
	}
	opts, err := decodePodLogOptions(r.URL.Query())
	if err != nil {
		return err
	}
	if errs := validatePodLogOptions(opts); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, info.Name, errs)
	}
	obj, err := pods.Get(r.Context(), info.Namespace, info.Name)
	if err != nil {
		return err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("pods/log: stored object is a %T", obj))
	}
	container, err := logContainer(pod, opts.Container)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	loc, err := p.nodeLogURL(r.Context(), pod.Spec.NodeName, pod, container, opts)
	if err != nil {
		return err
	}
	return p.proxy(w, r, loc, pod, opts.Follow)
}

// nodeLogURL is the node daemon's /containerLogs URL for a container, with
// the options as kube-apiserver's LogLocation passes them on.
func (p *podLogs) nodeLogURL(ctx context.Context, nodeName string, pod *corev1.Pod, container string, opts *corev1.PodLogOptions) (*url.URL, error) {
	nodes := p.reg.Store(schema.GroupVersionResource{Version: "v1", Resource: "nodes"})
	if nodes == nil {
		return nil, apierrors.NewServiceUnavailable("pod logs are served by node daemons, and this server has no nodes resource")
	}
	obj, err := nodes.Get(ctx, "", nodeName)
	if err != nil {
		return nil, err
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("pods/log: stored node is a %T", obj))
	}
	host := nodeAddress(node)
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if host == "" || port <= 0 {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf(
			"pod logs are served by the node daemon, and node %q publishes no log endpoint (status.addresses InternalIP and status.daemonEndpoints.kubeletEndpoint.port): is its daemon running?", nodeName))
	}
	q := url.Values{}
	if opts.Follow {
		q.Set("follow", "true")
	}
	if opts.Previous {
		q.Set("previous", "true")
	}
	if opts.Timestamps {
		q.Set("timestamps", "true")
	}
	if opts.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*opts.SinceSeconds, 10))
	}
	if opts.SinceTime != nil {
		q.Set("sinceTime", opts.SinceTime.UTC().Format(time.RFC3339))
	}
	if opts.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*opts.TailLines, 10))
	}
	if opts.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*opts.LimitBytes, 10))
	}
	// Plain HTTP for now; insecureSkipTLSVerifyBackend has nothing to skip
	// until nodes serve TLS (issue 6).
	return &url.URL{
		Scheme:   "http",
		Host:     net.JoinHostPort(host, strconv.Itoa(int(port))),
		Path:     "/containerLogs/" + url.PathEscape(pod.Namespace) + "/" + url.PathEscape(pod.Name) + "/" + url.PathEscape(container),
		RawQuery: q.Encode(),
	}, nil
}

// nodeAddress is the address the API server reaches a node at: its
// InternalIP, else its ExternalIP.
func nodeAddress(node *corev1.Node) string {
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address
			}
		}
	}
	return ""
}

// maxErrorBody bounds how much of a node's error answer is read.
const maxErrorBody = 16 << 10

// proxy streams the node's answer to w; with follow, every chunk is flushed
// as it arrives, until the node ends the stream or the client goes away.
func (p *podLogs) proxy(w http.ResponseWriter, r *http.Request, loc *url.URL, pod *corev1.Pod, follow bool) error {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, loc.String(), nil)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("pods/log: request to %s: %w", loc.Redacted(), err))
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if r.Context().Err() != nil {
			return nil // the client went away; nobody to answer
		}
		return apierrors.NewServiceUnavailable(fmt.Sprintf("unable to reach node %q at %s for the logs of pod %s/%s: %v",
			pod.Spec.NodeName, loc.Host, pod.Namespace, pod.Name, unwrapURLError(err)))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nodeError(resp, pod)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	var flush func() error
	if follow {
		flush = http.NewResponseController(w).Flush
		_ = flush()
	}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return nil // the client went away
			}
			if flush != nil {
				if err := flush(); err != nil {
					return nil
				}
			}
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) && r.Context().Err() == nil {
				p.logger.Warn("pod log stream from node ended early", "node", pod.Spec.NodeName,
					"pod", pod.Namespace+"/"+pod.Name, "err", rerr)
			}
			return nil // the status is sent: all that is left is to end the body
		}
	}
}

// nodeError turns a node's error answer into a Status, as kube-apiserver's
// GenericHttpResponseChecker does, keeping the node's message.
func nodeError(resp *http.Response, pod *corev1.Pod) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := strings.TrimSpace(string(body))
	switch resp.StatusCode {
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(msg)
	case http.StatusNotFound:
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound, Message: msg,
			Details: &metav1.StatusDetails{Name: pod.Name, Kind: podsLog.Resource},
		}}
	case http.StatusUnauthorized, http.StatusForbidden:
		return apierrors.NewInternalError(fmt.Errorf("node %q refused the API server's credentials for pod logs (%d %s): check the node token",
			pod.Spec.NodeName, resp.StatusCode, msg))
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(fmt.Errorf("node %q: %s", pod.Spec.NodeName, msg))
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "get", podsLog, pod.Name, msg, 0, false)
}

// unwrapURLError drops net/http's `Get "<url>":` prefix, which the message
// already says better.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// logContainer picks the container whose log is asked for: the named one,
// else the one the default-container annotation names, else the only one.
// The rules and messages are kube-apiserver's validateContainer, plus the
// annotation that kubectl honours.
func logContainer(pod *corev1.Pod, name string) (string, error) {
	if name != "" {
		if !hasContainer(pod, name) {
			return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
		}
		return name, nil
	}
	if def := pod.Annotations[DefaultContainerAnnotation]; def != "" && hasContainer(pod, def) {
		return def, nil
	}
	switch len(pod.Spec.Containers) {
	case 1:
		return pod.Spec.Containers[0].Name, nil
	case 0:
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, containerNames(pod)))
}

// containerNames lists init, regular and ephemeral containers, in that
// order (podutil.VisitContainers').
func containerNames(pod *corev1.Pod) []string {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return names
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, n := range containerNames(pod) {
		if n == name {
			return true
		}
	}
	return false
}

// logParameters decodes PodLogOptions from a query, as kube-apiserver's
// parameter codec does with the generated Convert_url_Values_To_v1_PodLogOptions,
// which k8s.io/api does not carry.
// TODO(integrator): this conversion belongs in control/api/scheme.
var logParameters = func() runtime.ParameterCodec {
	s := runtime.NewScheme()
	s.AddKnownTypes(corev1.SchemeGroupVersion, &corev1.PodLogOptions{})
	utilruntime.Must(s.AddConversionFunc((*url.Values)(nil), (*corev1.PodLogOptions)(nil), func(a, b any, scope conversion.Scope) error {
		return convertURLValuesToPodLogOptions(a.(*url.Values), b.(*corev1.PodLogOptions), scope)
	}))
	return runtime.NewParameterCodec(s)
}()

func decodePodLogOptions(q url.Values) (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{}
	if err := logParameters.DecodeParameters(q, corev1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid query: %v", err))
	}
	return opts, nil
}

func convertURLValuesToPodLogOptions(in *url.Values, out *corev1.PodLogOptions, s conversion.Scope) error {
	for _, f := range []struct {
		key  string
		conv func(*[]string) error
	}{
		{"container", func(v *[]string) error { return runtime.Convert_Slice_string_To_string(v, &out.Container, s) }},
		{"follow", func(v *[]string) error { return runtime.Convert_Slice_string_To_bool(v, &out.Follow, s) }},
		{"previous", func(v *[]string) error { return runtime.Convert_Slice_string_To_bool(v, &out.Previous, s) }},
		{"sinceSeconds", func(v *[]string) error { return runtime.Convert_Slice_string_To_Pointer_int64(v, &out.SinceSeconds, s) }},
		{"sinceTime", func(v *[]string) error { return metav1.Convert_Slice_string_To_Pointer_v1_Time(v, &out.SinceTime, s) }},
		{"timestamps", func(v *[]string) error { return runtime.Convert_Slice_string_To_bool(v, &out.Timestamps, s) }},
		{"tailLines", func(v *[]string) error { return runtime.Convert_Slice_string_To_Pointer_int64(v, &out.TailLines, s) }},
		{"limitBytes", func(v *[]string) error { return runtime.Convert_Slice_string_To_Pointer_int64(v, &out.LimitBytes, s) }},
		{"insecureSkipTLSVerifyBackend", func(v *[]string) error {
			return runtime.Convert_Slice_string_To_bool(v, &out.InsecureSkipTLSVerifyBackend, s)
		}},
		{"stream", func(v *[]string) error { str := (*v)[0]; out.Stream = &str; return nil }},
	} {
		if v, ok := (*in)[f.key]; ok && len(v) > 0 {
			if err := f.conv(&v); err != nil {
				return fmt.Errorf("%s=%q: %w", f.key, v[0], err)
			}
		}
	}
	return nil
}

// validatePodLogOptions is kube-apiserver's ValidatePodLogOptions; stream
// selection (stdout or stderr alone) is refused: nodes serve both together.
func validatePodLogOptions(o *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if o.TailLines != nil && *o.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *o.TailLines, "must be greater than or equal to 0"))
	}
	if o.LimitBytes != nil && *o.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *o.LimitBytes, "must be greater than 0"))
	}
	switch {
	case o.SinceSeconds != nil && o.SinceTime != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case o.SinceSeconds != nil && *o.SinceSeconds < 1:
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *o.SinceSeconds, "must be greater than 0"))
	}
	if o.Stream != nil && *o.Stream != corev1.LogStreamAll {
		errs = append(errs, field.NotSupported(field.NewPath("stream"), *o.Stream, []string{corev1.LogStreamAll}))
	}
	return errs
}
