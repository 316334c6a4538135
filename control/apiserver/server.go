package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/api/openapi"
	"github.com/skiff-sh/skiff/control/fieldmanager"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/raftstore"
)

// KubernetesVersion is the Kubernetes release whose API (k8s.io/api) Skiff
// serves; /version reports it with Skiff's build after a "+".
const KubernetesVersion = "v1.37.2"

// Config configures the API server.
type Config struct {
	// Store is the replicated store the API lives in.
	Store *raftstore.Store
	// Certificate is this server's serving certificate (from the cluster CA).
	Certificate tls.Certificate
	// AdminTokenHash is pki.TokenHash of the admin bearer token.
	AdminTokenHash string
	// JoinTokenHash is pki.TokenHash of the cluster's join token, which
	// NodeCredentialsPath requires; empty: no node credentials are issued
	// (those issued before still authenticate).
	JoinTokenHash string
	// CACert is the cluster CA's certificate (PEM), handed to nodes with
	// their credentials.
	CACert []byte
	// SkiffVersion is Skiff's own build version.
	SkiffVersion string
	// Registry holds the served resources (over Store).
	Registry *registry.Registry
	// Fields, if set, serves server-side apply; the registry should track
	// fields with the same manager (Registry.TrackFields).
	Fields *fieldmanager.Manager
	// NodeToken is the bearer token presented to node daemons' log servers
	// when proxying pods/log (LogProxyToken of the join token); empty: no
	// Authorization header.
	NodeToken string
	// NodeTransport reaches node daemons (pods/log); nil: plain HTTP with
	// a 5 s dial timeout and no proxy. Mutual TLS to nodes is issue 6's.
	NodeTransport http.RoundTripper
	// UI, if set, makes the dashboard served under UIPath. It is handed the
	// API's own handler (authentication included), which it calls in
	// process for what the browser asks; its own paths are public, so the
	// sign-in page loads without credentials.
	UI     func(api http.Handler) http.Handler
	Logger *slog.Logger
}

// UIPath is where the dashboard is served.
const UIPath = "/ui"

// Server is the HTTPS API server.
type Server struct {
	cfg       Config
	http      *http.Server
	rest      *rest
	discovery *discovery
	openapi   *openapi.Documents
	members   members
	status    clusterStatus
	creds     *NodeCredentials
}

// New builds the server; Serve starts it.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("apiserver: Store is required")
	case len(cfg.Certificate.Certificate) == 0:
		return nil, errors.New("apiserver: Certificate is required")
	case cfg.AdminTokenHash == "":
		return nil, errors.New("apiserver: AdminTokenHash is required")
	case cfg.Logger == nil:
		return nil, errors.New("apiserver: Logger is required")
	case cfg.Registry == nil:
		return nil, errors.New("apiserver: Registry is required")
	}
	docs, err := newOpenAPI(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, rest: &rest{reg: cfg.Registry, fields: cfg.Fields, logger: cfg.Logger,
		logs: newPodLogs(cfg.Registry, cfg.NodeToken, cfg.NodeTransport, cfg.Logger)}, discovery: newDiscovery(cfg.Registry), openapi: docs,
		creds: NewNodeCredentials(cfg.Store)}
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cfg.Certificate},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Serve serves HTTPS on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("apiserver: serve: %w", err)
}

// Shutdown stops accepting requests and waits for running ones until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}

// public paths are readable without credentials, as Kubernetes' default
// system:public-info-viewer role allows.
var public = map[string]bool{"/healthz": true, "/livez": true, "/readyz": true, "/version": true}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	ping := []check{{name: "ping", run: func(context.Context) error { return nil }}}
	storeCheck := check{name: "etcd", run: s.storeReady}
	mux.Handle("/livez", healthHandler("livez", ping))
	mux.Handle("/healthz", healthHandler("healthz", append(ping, storeCheck)))
	mux.Handle("/readyz", healthHandler("readyz", append(ping, storeCheck)))
	mux.HandleFunc("/version", s.version)
	mux.HandleFunc(MembersPath, s.serveMembers)
	mux.HandleFunc(StatusPath, s.serveStatus)
	mux.HandleFunc(RemovePath, s.serveRemove)
	mux.HandleFunc(NodeCredentialsPath, s.serveNodeCredentials)
	m := newMetrics(s.cfg.Store)
	mux.Handle("/metrics", m.handler())
	mux.HandleFunc(openapi.V2Path, s.openapi.ServeV2)
	mux.HandleFunc(openapi.V3Path, s.openapi.ServeV3)
	mux.HandleFunc(openapi.V3Path+"/", s.openapi.ServeV3)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.discovery.serve(w, r) {
			return
		}
		s.rest.ServeHTTP(w, r)
	})
	api := m.count(s.authenticate(s.authorize(mux)))
	if s.cfg.UI == nil {
		return api
	}
	ui := s.cfg.UI(api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == UIPath || strings.HasPrefix(r.URL.Path, UIPath+"/") {
			ui.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// storeReady is the store check behind /readyz and /healthz: a linearizable
// read succeeds, so this member reaches a leader and is caught up.
func (s *Server) storeReady(ctx context.Context) error {
	_, err := s.cfg.Store.Range(ctx, &pb.RangeRequest{Key: []byte("/skiff/health"), CountOnly: true})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// versionInfo is k8s.io/apimachinery's version.Info.
type versionInfo struct {
	Major        string `json:"major"`
	Minor        string `json:"minor"`
	GitVersion   string `json:"gitVersion"`
	GitCommit    string `json:"gitCommit"`
	GitTreeState string `json:"gitTreeState"`
	BuildDate    string `json:"buildDate"`
	GoVersion    string `json:"goVersion"`
	Compiler     string `json:"compiler"`
	Platform     string `json:"platform"`
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	v := strings.TrimPrefix(KubernetesVersion, "v")
	major, rest, _ := strings.Cut(v, ".")
	minor, _, _ := strings.Cut(rest, ".")
	info := versionInfo{
		Major: major, Minor: minor,
		GitVersion:   KubernetesVersion + "+skiff." + s.cfg.SkiffVersion,
		GitTreeState: "clean",
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(info)
}

// SystemNamespaces exist in every cluster.
var SystemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// EnsureNamespaces creates the system namespaces that do not exist yet,
// retrying while the store is unavailable or electing a leader, until ctx
// ends. Every server may call it at start; creates are idempotent.
func (s *Server) EnsureNamespaces(ctx context.Context) error {
	ns := s.cfg.Registry.Namespaces()
	if ns == nil {
		return nil
	}
	for _, name := range SystemNamespaces {
		for {
			_, err := ns.Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, registry.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				break
			}
			if !apierrors.IsServiceUnavailable(err) && !apierrors.IsTimeout(err) && !apierrors.IsInternalError(err) {
				return fmt.Errorf("apiserver: create namespace %s: %w", name, err)
			}
			s.cfg.Logger.Debug("create system namespace: retrying", "namespace", name, "err", err)
			select {
			case <-ctx.Done():
				return fmt.Errorf("apiserver: create namespace %s: %w (last error: %v)", name, ctx.Err(), err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}
