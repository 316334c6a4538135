package apiserver

import (
	"context"
	"crypto/hmac"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/control/pki"
)

// NodeCredentialsPath issues node credentials. It is public: POST proves
// the cluster's join token (Authorization: Bearer <join token>) instead of
// a credential, with a NodeCredentialRequest body, and answers a
// NodeCredential; GET answers the cluster CA signed with the join token
// (ClusterCA), so a node can trust the CA before it sends the token.
const NodeCredentialsPath = "/skiff/v1/node-credentials"

// NodeCredentialRequest asks for a node's credential.
type NodeCredentialRequest struct {
	NodeName string `json:"nodeName"`
}

// NodeCredential is a node's credential: its bearer token (user
// "system:node:NAME"), the cluster CA (PEM) and the API server that issued it.
type NodeCredential struct {
	Token  string `json:"token"`
	CACert string `json:"caCert"`
	Server string `json:"server"`
}

// ClusterCA is the cluster CA and its signature with the join token's hash
// (hex HMAC-SHA256), which only a holder of the join token can make or check.
type ClusterCA struct {
	CACert      string `json:"caCert"`
	CASignature string `json:"caSignature"`
}

// IssueNodeCredential issues node's credential in process, as the endpoint
// does after checking the join token; it replaces any the node had.
func (s *Server) IssueNodeCredential(ctx context.Context, node string) (*NodeCredential, error) {
	token, err := s.creds.Issue(ctx, node)
	if err != nil {
		return nil, err
	}
	return &NodeCredential{Token: token, CACert: string(s.cfg.CACert)}, nil
}

func (s *Server) serveNodeCredentials(w http.ResponseWriter, r *http.Request) {
	if s.cfg.JoinTokenHash == "" || len(s.cfg.CACert) == 0 {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "this server issues no node credentials: it was given no join token")
		return
	}
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ClusterCA{CACert: string(s.cfg.CACert), CASignature: caSignature(s.cfg.JoinTokenHash, s.cfg.CACert)})
		return
	case http.MethodPost:
	default:
		writeError(w, apierrors.NewMethodNotSupported(schema.GroupResource{Group: "skiff.dev", Resource: "node-credentials"}, r.Method))
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	switch {
	case !ok || token == "":
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "node credentials need the cluster's join token: Authorization: Bearer <join token>")
		return
	case !pki.TokenMatches(token, s.cfg.JoinTokenHash):
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "node credentials: the join token is wrong")
		return
	}
	var req NodeCredentialRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("node credentials: want a JSON body {\"nodeName\": NAME}: %v", err))
		return
	}
	if req.NodeName == "" {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "node credentials: nodeName is required")
		return
	}
	cred, err := s.IssueNodeCredential(r.Context(), req.NodeName)
	if err != nil {
		if strings.Contains(err.Error(), "invalid name") {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
			return
		}
		s.cfg.Logger.Error("issue a node credential", "node", req.NodeName, "err", err)
		writeError(w, apierrors.NewServiceUnavailable(err.Error()))
		return
	}
	cred.Server = "https://" + r.Host
	s.cfg.Logger.Info("issued a node credential", "node", req.NodeName, "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(cred)
}

// ErrUntrustedCA is a cluster CA whose signature does not check with the
// join token the client holds.
var ErrUntrustedCA = errors.New("apiserver: the cluster CA is not signed with this join token")

// RequestNodeCredential asks the API server at server (an https URL) for
// node's credential, proving joinToken. caPEM, if given, is the CA to
// trust; otherwise the CA is fetched first and trusted only if its
// signature shows the server knows the join token, so the token is never
// sent to a server that cannot show it. Refusals are *StatusError
// (apierrors.IsUnauthorized for a wrong join token).
func RequestNodeCredential(ctx context.Context, server, joinToken, node string, caPEM []byte) (*NodeCredential, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("apiserver: request a node credential: server %q: want an https URL", server)
	}
	endpoint := u.Scheme + "://" + u.Host + NodeCredentialsPath
	if len(caPEM) == 0 {
		if caPEM, err = fetchClusterCA(ctx, endpoint, joinToken); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("apiserver: request a node credential: no certificate in the CA PEM")
	}
	body, _ := json.Marshal(NodeCredentialRequest{NodeName: node})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("apiserver: request a node credential from %s: %w", server, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+joinToken)
	var cred NodeCredential
	if err := do(credentialClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}), req, &cred); err != nil {
		return nil, fmt.Errorf("apiserver: request a node credential for %s from %s: %w", node, server, err)
	}
	if cred.Token == "" {
		return nil, fmt.Errorf("apiserver: request a node credential for %s from %s: the answer has no token", node, server)
	}
	cred.CACert = string(caPEM) // the CA checked, whatever the answer says
	if cred.Server == "" {
		cred.Server = u.Scheme + "://" + u.Host
	}
	return &cred, nil
}

// fetchClusterCA gets the cluster CA without trusting the connection and
// checks its signature with the join token.
func fetchClusterCA(ctx context.Context, endpoint, joinToken string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("apiserver: fetch the cluster CA from %s: %w", endpoint, err)
	}
	// Unverified on purpose: what comes back is checked against the join
	// token below, and nothing secret is sent.
	var ca ClusterCA
	if err := do(credentialClient(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}), req, &ca); err != nil { //nolint:gosec // see above
		return nil, fmt.Errorf("apiserver: fetch the cluster CA from %s: %w", endpoint, err)
	}
	want := caSignature(pki.TokenHash(joinToken), []byte(ca.CACert))
	if ca.CACert == "" || !hmac.Equal([]byte(want), []byte(ca.CASignature)) {
		return nil, fmt.Errorf("%w: from %s (a wrong join token, or not this cluster's server)", ErrUntrustedCA, endpoint)
	}
	return []byte(ca.CACert), nil
}

// credentialClient is a client that never goes through an environment proxy.
func credentialClient(tc *tls.Config) *http.Client {
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 5 * time.Second,
		DisableKeepAlives:   true,
	}}
}

// do sends req and decodes a 200 answer into out; a Status answer is a
// *StatusError.
func do(client *http.Client, req *http.Request, out any) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var st metav1.Status
		if json.Unmarshal(raw, &st) == nil && st.Kind == "Status" {
			return &apierrors.StatusError{ErrStatus: st}
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode the answer: %w", err)
	}
	return nil
}
