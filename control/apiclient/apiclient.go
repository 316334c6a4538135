// Package apiclient makes clients of Skiff's API that fail over between its servers: every
// control server serves the API, so a client that loses one moves on to the next, with no
// error reaching its user but a retry.
//
// The servers come from the kubeconfig: its cluster's server, and the list a Skiff server
// keeps in the cluster's extension ServersExtension (every server's API address as Serf
// knows it). A client also refreshes the list from the members endpoint while it runs.
package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ServersExtension names the kubeconfig cluster extension listing the API servers.
const ServersExtension = "skiff.dev/servers"

// serverList is the extension's document.
type serverList struct {
	Servers []string `json:"servers"` // host:port
}

// ServersOf reads the API servers a kubeconfig cluster lists in its extension.
func ServersOf(c *clientcmdapi.Cluster) []string {
	ext, ok := c.Extensions[ServersExtension]
	if !ok {
		return nil
	}
	var raw []byte
	switch e := ext.(type) {
	case *runtime.Unknown:
		raw = e.Raw
	default:
		b, err := json.Marshal(e)
		if err != nil {
			return nil
		}
		raw = b
	}
	var l serverList
	if json.Unmarshal(raw, &l) != nil {
		return nil
	}
	return l.Servers
}

// SetServers lists servers (host:port) in the cluster's extension; it reports whether that
// changed anything.
func SetServers(c *clientcmdapi.Cluster, servers []string) bool {
	servers = slices.Clone(servers)
	slices.Sort(servers)
	if slices.Equal(ServersOf(c), servers) {
		return false
	}
	b, _ := json.Marshal(serverList{Servers: servers})
	if c.Extensions == nil {
		c.Extensions = map[string]runtime.Object{}
	}
	c.Extensions[ServersExtension] = &runtime.Unknown{Raw: b, ContentType: runtime.ContentTypeJSON}
	return true
}

// ForKubeconfig is the client configuration of a kubeconfig, failing over between the
// servers it lists.
func ForKubeconfig(path string) (*rest.Config, error) {
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("apiclient: %w", err)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*raw, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("apiclient: %s: %w", path, err)
	}
	var servers []string
	if ctx, ok := raw.Contexts[raw.CurrentContext]; ok {
		if c, ok := raw.Clusters[ctx.Cluster]; ok {
			servers = ServersOf(c)
		}
	}
	return Wrap(cfg, servers), nil
}

// Wrap makes cfg's transport fail over between its host and servers (host:port).
func Wrap(cfg *rest.Config, servers []string) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	u, err := url.Parse(cfg.Host)
	if err != nil || u.Host == "" {
		return cfg
	}
	f := newFailover(u.Host, servers)
	prev := cfg.WrapTransport
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return &Transport{base: rt, f: f}
	}
	return cfg
}

// failover is the list of servers and the one in use, shared by every transport made for one
// configuration.
type failover struct {
	mu      sync.Mutex
	servers []string // host:port, the one in use first
	learned time.Time
}

func newFailover(first string, others []string) *failover {
	f := &failover{servers: []string{first}}
	for _, s := range others {
		if !slices.Contains(f.servers, s) {
			f.servers = append(f.servers, s)
		}
	}
	return f
}

// order is the servers to try, the current one first.
func (f *failover) order() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.servers)
}

// use makes server the current one.
func (f *failover) use(server string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := slices.Index(f.servers, server); i > 0 {
		f.servers = append([]string{server}, slices.Delete(f.servers, i, i+1)...)
	}
}

// learn adds servers the members endpoint named.
func (f *failover) learn(servers []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range servers {
		if !slices.Contains(f.servers, s) {
			f.servers = append(f.servers, s)
		}
	}
	f.learned = time.Now()
}

// Transport sends each request to the current server and, when that server cannot be
// reached, to the next: a request that never reached a server is sent again; a request
// whose answer was lost is sent again only if it is safe to repeat (GET, HEAD, OPTIONS).
type Transport struct {
	base http.RoundTripper
	f    *failover
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	servers := t.f.order()
	var errs []error
	for i, server := range servers {
		r := req
		if i > 0 || req.URL.Host != server {
			if req.Body != nil && req.Body != http.NoBody {
				if req.GetBody == nil {
					if i > 0 {
						break // the body is gone with the first attempt
					}
				} else {
					body, err := req.GetBody()
					if err != nil {
						return nil, err
					}
					r = req.Clone(req.Context())
					r.Body = body
				}
			}
			if r == req {
				r = req.Clone(req.Context())
			}
			r.URL.Host = server
			r.Host = ""
		}
		resp, err := t.base.RoundTrip(r)
		if err == nil {
			if resp.StatusCode == http.StatusServiceUnavailable && safe(req.Method) && i < len(servers)-1 {
				resp.Body.Close()
				errs = append(errs, fmt.Errorf("%s: 503", server))
				continue
			}
			t.f.use(server)
			return resp, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", server, err))
		if req.Context().Err() != nil || !(unreached(err) || safe(req.Method)) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func safe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// unreached reports an error that says the request never reached the server: the connection
// could not be made.
func unreached(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// Learn asks the current server for the API addresses of every server (the members
// endpoint), so that a client started with one server can fail over to the others; it is a
// no-op within a minute of the last time.
func Learn(ctx context.Context, cfg *rest.Config, membersPath string) error {
	f := failoverOf(cfg)
	if f == nil {
		return nil
	}
	f.mu.Lock()
	recent := time.Since(f.learned) < time.Minute
	f.mu.Unlock()
	if recent {
		return nil
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("apiclient: %w", err)
	}
	raw, err := client.Discovery().RESTClient().Get().AbsPath(membersPath).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("apiclient: list servers: %w", err)
	}
	var members []struct {
		Role string            `json:"role"`
		Tags map[string]string `json:"tags"`
	}
	if err := json.Unmarshal(raw, &members); err != nil {
		return fmt.Errorf("apiclient: list servers: %w", err)
	}
	var servers []string
	for _, m := range members {
		if api := m.Tags["api"]; m.Role == "server" && api != "" {
			servers = append(servers, api)
		}
	}
	f.learn(servers)
	return nil
}

// failoverOf finds the failover a configuration's transport wraps with.
func failoverOf(cfg *rest.Config) *failover {
	if cfg.WrapTransport == nil {
		return nil
	}
	if t, ok := cfg.WrapTransport(http.DefaultTransport).(*Transport); ok {
		return t.f
	}
	return nil
}

// UpdateKubeconfig lists servers in the extension of the kubeconfig's current cluster,
// rewriting the file (atomically) only when the list changed.
func UpdateKubeconfig(path string, servers []string) (changed bool, err error) {
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return false, fmt.Errorf("apiclient: %w", err)
	}
	ctx, ok := raw.Contexts[raw.CurrentContext]
	if !ok {
		return false, fmt.Errorf("apiclient: %s has no current context", path)
	}
	c, ok := raw.Clusters[ctx.Cluster]
	if !ok {
		return false, fmt.Errorf("apiclient: %s has no cluster %q", path, ctx.Cluster)
	}
	if !SetServers(c, servers) {
		return false, nil
	}
	data, err := clientcmd.Write(*raw)
	if err != nil {
		return false, fmt.Errorf("apiclient: encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return false, fmt.Errorf("apiclient: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("apiclient: %w", err)
	}
	return true, nil
}
