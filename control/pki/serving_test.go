package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

func TestIssueServing(t *testing.T) {
	ca := newTestCA(t, "skiff-ca")
	hosts := []string{"node-1", "node-1.skiff.example", "127.0.0.1", "::1", "10.0.0.7", "127.0.0.1"}
	cert, err := ca.IssueServing("node-1", hosts, testNow)
	if err != nil {
		t.Fatalf("IssueServing: %v", err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		t.Fatalf("Leaf is nil")
	}
	if got, want := len(cert.Certificate), 2; got != want {
		t.Fatalf("len(Certificate) = %d, want %d", got, want)
	}
	if !slices.Equal(cert.Certificate[0], leaf.Raw) {
		t.Fatalf("Certificate[0] is not the leaf")
	}
	if !slices.Equal(cert.Certificate[1], ca.Cert.Raw) {
		t.Fatalf("Certificate[1] is not the CA")
	}
	key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Fatalf("PrivateKey is %T, want a P-256 *ecdsa.PrivateKey", cert.PrivateKey)
	}
	if !key.PublicKey.Equal(leaf.PublicKey) {
		t.Fatalf("private key does not match the leaf")
	}
	if key.Equal(ca.Key) {
		t.Fatalf("leaf reuses the CA key")
	}
	if got, want := leaf.Subject.CommonName, "node-1"; got != want {
		t.Fatalf("CommonName = %q, want %q", got, want)
	}
	if leaf.IsCA {
		t.Fatalf("leaf IsCA = true")
	}
	if got, want := leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}; !slices.Equal(got, want) {
		t.Fatalf("ExtKeyUsage = %v, want %v", got, want)
	}
	if got, want := leaf.DNSNames, []string{"node-1", "node-1.skiff.example"}; !slices.Equal(got, want) {
		t.Fatalf("DNSNames = %q, want %q", got, want)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if got, want := ips, []string{"127.0.0.1", "::1", "10.0.0.7"}; !slices.Equal(got, want) {
		t.Fatalf("IPAddresses = %q, want %q", got, want)
	}
	if got, want := leaf.NotBefore, testNow.Add(-time.Hour); !got.Equal(want) {
		t.Fatalf("NotBefore = %v, want %v", got, want)
	}
	if got, want := leaf.NotAfter, testNow.Add(-time.Hour).AddDate(1, 0, 0); !got.Equal(want) {
		t.Fatalf("NotAfter = %v, want %v", got, want)
	}

	// Each requested host verifies against the CA; others do not.
	verify := func(host string) error {
		opts := x509.VerifyOptions{
			Roots:       ca.Pool(),
			CurrentTime: testNow,
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if net.ParseIP(host) == nil {
			opts.DNSName = host
		}
		if _, err := leaf.Verify(opts); err != nil {
			return err
		}
		return leaf.VerifyHostname(host)
	}
	tests := []struct {
		host string
		ok   bool
	}{
		{"node-1", true},
		{"node-1.skiff.example", true},
		{"127.0.0.1", true},
		{"::1", true},
		{"10.0.0.7", true},
		{"node-2", false},
		{"skiff.example", false},
		{"10.0.0.8", false},
		{"localhost", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			err := verify(tt.host)
			if got := err == nil; got != tt.ok {
				t.Fatalf("verify %q: err = %v, want ok = %t", tt.host, err, tt.ok)
			}
		})
	}

	// Not for client authentication, and not trusted by another CA.
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatalf("leaf verifies for client auth")
	}
	other := newTestCA(t, "other-ca")
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: other.Pool(), CurrentTime: testNow}); err == nil {
		t.Fatalf("leaf verifies against another CA")
	}
	// Valid an hour before now, not after a year.
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow.Add(-59 * time.Minute), DNSName: "node-1"}); err != nil {
		t.Fatalf("leaf not valid 59m before issue: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow.AddDate(1, 0, 0), DNSName: "node-1"}); err == nil {
		t.Fatalf("leaf still valid a year after issue")
	}
}

func TestIssueServingClampsToCA(t *testing.T) {
	ca := newTestCA(t, "skiff-ca")
	late := ca.Cert.NotAfter.Add(-24 * time.Hour)
	cert, err := ca.IssueServing("late", []string{"late.example"}, late)
	if err != nil {
		t.Fatalf("IssueServing: %v", err)
	}
	if got, want := cert.Leaf.NotAfter, ca.Cert.NotAfter; !got.Equal(want) {
		t.Fatalf("NotAfter = %v, want the CA's %v", got, want)
	}
}

func TestIssueServingRejects(t *testing.T) {
	ca := newTestCA(t, "skiff-ca")
	tests := []struct {
		name  string
		ca    *CA
		hosts []string
	}{
		{"no hosts", ca, nil},
		{"empty host", ca, []string{"a.example", ""}},
		{"CA without key", &CA{Cert: ca.Cert}, []string{"a.example"}},
		{"nil CA", nil, []string{"a.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.ca.IssueServing("x", tt.hosts, testNow); err == nil {
				t.Fatalf("IssueServing(%q) succeeded, want an error", tt.hosts)
			}
		})
	}
}

func TestServingHandshake(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("skiff-ca", now)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	cert, err := ca.IssueServing("apiserver", []string{"localhost", "127.0.0.1"}, now)
	if err != nil {
		t.Fatalf("IssueServing: %v", err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// The failing handshakes below are expected; keep them out of the log.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)

	get := func(t *testing.T, cfg *tls.Config) (*http.Response, error) {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: cfg}
		t.Cleanup(tr.CloseIdleConnections)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL, nil)
		if err != nil {
			t.Fatalf("NewRequest: %v", err)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}

	t.Run("trusting the CA", func(t *testing.T) {
		resp, err := get(t, &tls.Config{RootCAs: ca.Pool()})
		if err != nil {
			t.Fatalf("GET %s: %v", ts.URL, err)
		}
		if got, want := resp.StatusCode, http.StatusOK; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got := len(resp.TLS.PeerCertificates); got != 2 {
			t.Fatalf("server sent %d certificates, want 2 (leaf, CA)", got)
		}
	})
	t.Run("trusting another CA", func(t *testing.T) {
		other, err := NewCA("other-ca", now)
		if err != nil {
			t.Fatalf("NewCA: %v", err)
		}
		_, err = get(t, &tls.Config{RootCAs: other.Pool()})
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("GET %s trusting another CA: err = %v, want x509.UnknownAuthorityError", ts.URL, err)
		}
	})
	t.Run("wrong server name", func(t *testing.T) {
		_, err := get(t, &tls.Config{RootCAs: ca.Pool(), ServerName: "elsewhere.example"})
		var hostErr x509.HostnameError
		if !errors.As(err, &hostErr) {
			t.Fatalf("GET %s as elsewhere.example: err = %v, want x509.HostnameError", ts.URL, err)
		}
	})
}
