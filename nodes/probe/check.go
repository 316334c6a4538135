package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Result is a probe's verdict.
type Result int

// Verdicts.
const (
	Unknown Result = iota
	Success
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return "unknown"
}

// ExecFunc runs cmd in the container and returns its exit code and output.
// It must give up when ctx ends.
type ExecFunc func(ctx context.Context, cmd []string) (exitCode int, output []byte, err error)

// Target is what a probe reaches: the pod's address, the container's ports
// (for named ports) and a way to run commands in it.
type Target struct {
	PodIP     string
	Container *corev1.Container
	Exec      ExecFunc
}

// maxOutput bounds the body or output kept for a failure message, as the
// kubelet's 10 KiB.
const maxOutput = 10 << 10

// Check runs the probe once with its timeout (timeoutSeconds, default 1)
// and returns the verdict and, for a failure, why.
func Check(ctx context.Context, p *corev1.Probe, t Target) (Result, string) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.Exec != nil:
		return checkExec(ctx, p.Exec, t, timeout)
	case p.HTTPGet != nil:
		return checkHTTP(ctx, p.HTTPGet, t)
	case p.TCPSocket != nil:
		return checkTCP(ctx, p.TCPSocket, t)
	case p.GRPC != nil:
		return Failure, "grpc probes are not supported by skiff"
	}
	return Failure, "probe has no handler"
}

func checkExec(ctx context.Context, e *corev1.ExecAction, t Target, timeout time.Duration) (Result, string) {
	if t.Exec == nil {
		return Failure, "exec probes are not available for this container"
	}
	code, out, err := t.Exec(ctx, e.Command)
	if len(out) > maxOutput {
		out = out[:maxOutput]
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return Failure, fmt.Sprintf("command %q timed out after %s", strings.Join(e.Command, " "), timeout)
	case err != nil:
		return Failure, fmt.Sprintf("command %q failed: %v", strings.Join(e.Command, " "), err)
	case code != 0:
		return Failure, fmt.Sprintf("command %q exited with %d: %s", strings.Join(e.Command, " "), code, bytes.TrimSpace(out))
	}
	return Success, ""
}

// ResolvePort turns a probe's port — a number or a container port's name —
// into a number.
func ResolvePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	if port.Type == intstr.Int {
		if port.IntVal <= 0 || port.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port %d", port.IntVal)
		}
		return int(port.IntVal), nil
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	if c != nil {
		for _, p := range c.Ports {
			if p.Name == port.StrVal {
				return int(p.ContainerPort), nil
			}
		}
	}
	return 0, fmt.Errorf("port %q not found in the container's ports", port.StrVal)
}

func checkTCP(ctx context.Context, s *corev1.TCPSocketAction, t Target) (Result, string) {
	port, err := ResolvePort(s.Port, t.Container)
	if err != nil {
		return Failure, err.Error()
	}
	host := s.Host
	if host == "" {
		host = t.PodIP
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return Failure, fmt.Sprintf("dial tcp %s: %v", net.JoinHostPort(host, strconv.Itoa(port)), unwrapOp(err))
	}
	conn.Close()
	return Success, ""
}

// probeClient does not follow redirects off the host and reuses no
// connections, as the kubelet's prober.
var probeClient = &http.Client{
	Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the kubelet does not verify probe certificates either
		Proxy:             nil,
	},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if req.URL.Hostname() != via[0].URL.Hostname() {
			return http.ErrUseLastResponse
		}
		return nil
	},
}

func checkHTTP(ctx context.Context, h *corev1.HTTPGetAction, t Target) (Result, string) {
	port, err := ResolvePort(h.Port, t.Container)
	if err != nil {
		return Failure, err.Error()
	}
	host := h.Host
	if host == "" {
		host = t.PodIP
	}
	scheme := strings.ToLower(string(h.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := h.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		u.Path, u.RawQuery = path[:i], path[i+1:]
	} else {
		u.Path = path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Failure, fmt.Sprintf("bad probe URL %s: %v", u, err)
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	req.Header.Set("Accept", "*/*")
	for _, hd := range h.HTTPHeaders {
		if strings.EqualFold(hd.Name, "host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Add(hd.Name, hd.Value)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Failure, fmt.Sprintf("Get %q: context deadline exceeded (Client.Timeout exceeded while awaiting headers)", u)
		}
		return Failure, fmt.Sprintf("Get %q: %v", u, unwrapOp(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return Success, ""
	}
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode) + bodySuffix(body)
}

func bodySuffix(b []byte) string {
	if s := strings.TrimSpace(string(b)); s != "" {
		return ": " + s
	}
	return ""
}

// unwrapOp shortens url and net errors to what the kubelet shows.
func unwrapOp(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err
}
