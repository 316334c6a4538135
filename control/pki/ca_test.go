package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestCA(t *testing.T, cn string) *CA {
	t.Helper()
	ca, err := NewCA(cn, testNow)
	if err != nil {
		t.Fatalf("NewCA(%q): %v", cn, err)
	}
	return ca
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8PEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("MarshalPKCS8PrivateKey(%T): %v", key, err)
	}
	return pemOf("PRIVATE KEY", der)
}

// rsaCA returns a self-signed RSA CA certificate and its PKCS #8 key, both PEM.
func rsaCA(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa.GenerateKey: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "rsa-ca"},
		NotBefore:             testNow.Add(-time.Hour),
		NotAfter:              testNow.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("CreateCertificate(rsa-ca): %v", err)
	}
	return pemOf("CERTIFICATE", der), pkcs8PEM(t, key)
}

func TestNewCA(t *testing.T) {
	ca := newTestCA(t, "skiff-ca")
	c := ca.Cert
	if got, want := c.Subject.CommonName, "skiff-ca"; got != want {
		t.Fatalf("CommonName = %q, want %q", got, want)
	}
	if got, want := c.Issuer.CommonName, "skiff-ca"; got != want {
		t.Fatalf("Issuer CommonName = %q, want %q", got, want)
	}
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Fatalf("IsCA = %t, BasicConstraintsValid = %t, want both true", c.IsCA, c.BasicConstraintsValid)
	}
	if got, want := c.KeyUsage, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature|x509.KeyUsageCRLSign; got != want {
		t.Fatalf("KeyUsage = %#x, want %#x", got, want)
	}
	if got, want := c.NotBefore, testNow.Add(-time.Hour); !got.Equal(want) {
		t.Fatalf("NotBefore = %v, want %v", got, want)
	}
	if got, want := c.NotAfter, testNow.Add(-time.Hour).AddDate(10, 0, 0); !got.Equal(want) {
		t.Fatalf("NotAfter = %v, want %v", got, want)
	}
	if got, want := c.PublicKeyAlgorithm, x509.ECDSA; got != want {
		t.Fatalf("PublicKeyAlgorithm = %v, want %v", got, want)
	}
	if got, want := c.PublicKey.(*ecdsa.PublicKey).Curve.Params().Name, "P-256"; got != want {
		t.Fatalf("curve = %s, want %s", got, want)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Fatalf("serial %v: want positive, at most 128 bits", c.SerialNumber)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Fatalf("CA does not verify its own signature: %v", err)
	}
	other := newTestCA(t, "skiff-ca")
	if other.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Fatalf("two CAs share serial %v", c.SerialNumber)
	}
	if _, err := NewCA("", testNow); err == nil {
		t.Fatalf("NewCA(\"\") succeeded, want an error")
	}
}

func TestParseCARoundTrip(t *testing.T) {
	ca := newTestCA(t, "skiff-ca")
	rsaCert, rsaKey := rsaCA(t)
	pkcs8 := pkcs8PEM(t, ca.Key)
	tests := []struct {
		name          string
		certPEM, key  []byte
		wantCN        string
		wantKeyPEMTyp string
	}{
		{"NewCA output", ca.CertPEM, ca.KeyPEM, "skiff-ca", "EC PRIVATE KEY"},
		{"PKCS #8 EC key", ca.CertPEM, pkcs8, "skiff-ca", "PRIVATE KEY"},
		{"RSA CA with its own key", rsaCert, rsaKey, "rsa-ca", "PRIVATE KEY"},
		{
			"other blocks around the wanted ones",
			append(pemOf("JUNK", []byte("x")), ca.CertPEM...),
			append(pemOf("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), ca.KeyPEM...),
			"skiff-ca", "EC PRIVATE KEY",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCA(tt.certPEM, tt.key)
			if err != nil {
				t.Fatalf("ParseCA: %v", err)
			}
			if got.Cert.Subject.CommonName != tt.wantCN {
				t.Fatalf("CommonName = %q, want %q", got.Cert.Subject.CommonName, tt.wantCN)
			}
			if b, rest := pem.Decode(got.CertPEM); b == nil || b.Type != "CERTIFICATE" || !bytes.Equal(b.Bytes, got.Cert.Raw) || len(rest) != 0 {
				t.Fatalf("CertPEM = %q, want exactly the CA certificate", got.CertPEM)
			}
			if b, rest := pem.Decode(got.KeyPEM); b == nil || b.Type != tt.wantKeyPEMTyp || len(rest) != 0 {
				t.Fatalf("KeyPEM = %q, want exactly one %q block", got.KeyPEM, tt.wantKeyPEMTyp)
			}
			// The parsed CA must be able to issue.
			leaf, err := got.IssueServing("s", []string{"a.example"}, testNow)
			if err != nil {
				t.Fatalf("IssueServing from parsed CA: %v", err)
			}
			if err := leaf.Leaf.CheckSignatureFrom(got.Cert); err != nil {
				t.Fatalf("leaf not signed by parsed CA: %v", err)
			}
		})
	}
	// The NewCA round trip gives back the same certificate and key.
	got, err := ParseCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatalf("ParseCA: %v", err)
	}
	if !got.Cert.Equal(ca.Cert) {
		t.Fatalf("parsed certificate differs from NewCA's")
	}
	if !bytes.Equal(got.CertPEM, ca.CertPEM) || !bytes.Equal(got.KeyPEM, ca.KeyPEM) {
		t.Fatalf("parsed PEM differs from NewCA's")
	}
	if !got.Key.(*ecdsa.PrivateKey).Equal(ca.Key) {
		t.Fatalf("parsed key differs from NewCA's")
	}
}

func TestParseCARejects(t *testing.T) {
	ca := newTestCA(t, "skiff-ca")
	other := newTestCA(t, "other-ca")
	leaf, err := ca.IssueServing("leaf", []string{"leaf.example"}, testNow)
	if err != nil {
		t.Fatalf("IssueServing: %v", err)
	}
	leafKeyDER, err := x509.MarshalECPrivateKey(leaf.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatalf("MarshalECPrivateKey: %v", err)
	}
	_, rsaKey := rsaCA(t)
	rsaPKCS1 := pemOf("RSA PRIVATE KEY", []byte("irrelevant"))

	tests := []struct {
		name      string
		cert, key []byte
		wantErr   error // nil: any error
	}{
		{"key of another CA", ca.CertPEM, other.KeyPEM, ErrKeyMismatch},
		{"RSA key of another cert", ca.CertPEM, rsaKey, ErrKeyMismatch},
		{"non-CA cert with its own key", pemOf("CERTIFICATE", leaf.Certificate[0]), pemOf("EC PRIVATE KEY", leafKeyDER), ErrNotCA},
		{"garbage cert PEM", []byte("not a pem at all"), ca.KeyPEM, nil},
		{"garbage key PEM", ca.CertPEM, []byte("-----BEGIN EC PRIVATE KEY-----\nxx\n"), nil},
		{"empty inputs", nil, nil, nil},
		{"cert block with garbage DER", pemOf("CERTIFICATE", []byte("garbage")), ca.KeyPEM, nil},
		{"key block with garbage DER", ca.CertPEM, pemOf("EC PRIVATE KEY", []byte("garbage")), nil},
		{"PKCS #8 block with garbage DER", ca.CertPEM, pemOf("PRIVATE KEY", []byte("garbage")), nil},
		{"PKCS #1 key type", ca.CertPEM, rsaPKCS1, nil},
		{"cert and key swapped", ca.KeyPEM, ca.CertPEM, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCA(tt.cert, tt.key)
			if err == nil {
				t.Fatalf("ParseCA succeeded with CA %q, want an error", got.Cert.Subject.CommonName)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseCA error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestPool(t *testing.T) {
	ca := newTestCA(t, "skiff-ca")
	chains, err := ca.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow})
	if err != nil {
		t.Fatalf("CA does not verify against its own pool: %v", err)
	}
	if got, want := len(chains), 1; got != want {
		t.Fatalf("got %d chains, want %d", got, want)
	}
	other := newTestCA(t, "other-ca")
	if _, err := other.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow}); err == nil {
		t.Fatalf("another CA verifies against the pool")
	}
}

// FuzzParseCA checks that ParseCA never panics and that whatever it accepts
// is a CA whose key matches its certificate.
func FuzzParseCA(f *testing.F) {
	ca, err := NewCA("fuzz-ca", testNow)
	if err != nil {
		f.Fatalf("NewCA: %v", err)
	}
	f.Add(ca.CertPEM, ca.KeyPEM)
	f.Add(ca.CertPEM, []byte("-----BEGIN PRIVATE KEY-----\n\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		got, err := ParseCA(certPEM, keyPEM)
		if err != nil {
			return
		}
		if !got.Cert.IsCA {
			t.Fatalf("accepted a non-CA certificate")
		}
		pub, ok := got.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(got.Cert.PublicKey) {
			t.Fatalf("accepted a key that does not match")
		}
	})
}
