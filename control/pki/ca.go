package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Conditions callers may test for with errors.Is.
var (
	// ErrNotCA reports a certificate that cannot sign others: not a CA by
	// its basic constraints, or without the certificate-signing key usage.
	ErrNotCA = errors.New("pki: certificate is not a CA")
	// ErrKeyMismatch reports a private key that does not belong to the
	// certificate it came with.
	ErrKeyMismatch = errors.New("pki: private key does not match certificate")
)

// PEM block types.
const (
	pemCert  = "CERTIFICATE"
	pemECKey = "EC PRIVATE KEY"
	pemPKCS8 = "PRIVATE KEY"
	// backdate allows for clocks that run behind the issuer's.
	backdate = time.Hour
)

// CA is the cluster's certificate authority.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA creates a self-signed CA (ECDSA P-256, CommonName as given, valid
// from now-1h for 10 years, IsCA, KeyUsageCertSign|DigitalSignature|CRLSign,
// random 128-bit serial). It may sign only end-entity certificates (path
// length 0).
func NewCA(commonName string, now time.Time) (*CA, error) {
	if commonName == "" {
		return nil, errors.New("pki: new CA: empty common name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA %q: generate key: %w", commonName, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("pki: new CA %q: %w", commonName, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(-backdate).AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA %q: create certificate: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA %q: parse own certificate: %w", commonName, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA %q: marshal key: %w", commonName, err)
	}
	return &CA{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: pemECKey, Bytes: keyDER}),
	}, nil
}

// ParseCA loads a CA from PEM (certificate "CERTIFICATE", key "EC PRIVATE
// KEY" or "PRIVATE KEY"); it checks the key matches the certificate and the
// certificate is a CA. The first block of the right type in each input is
// used and other blocks (such as openssl's "EC PARAMETERS") are ignored;
// CertPEM and KeyPEM of the result hold just those two blocks. It does not
// check the certificate's validity period.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	certBlock := findBlock(certPEM, pemCert)
	if certBlock == nil {
		return nil, fmt.Errorf("pki: parse CA: no %q PEM block in certificate input (%d bytes)", pemCert, len(certPEM))
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA: certificate: %w", err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: %q (basic constraints valid %t, IsCA %t, key usage %#x)",
			ErrNotCA, cert.Subject.CommonName, cert.BasicConstraintsValid, cert.IsCA, cert.KeyUsage)
	}

	keyBlock := findBlock(keyPEM, pemECKey, pemPKCS8)
	if keyBlock == nil {
		return nil, fmt.Errorf("pki: parse CA: no %q or %q PEM block in key input (%d bytes)", pemECKey, pemPKCS8, len(keyPEM))
	}
	key, err := parseKey(keyBlock)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA %q: %w", cert.Subject.CommonName, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: CA %q has a %s key, got a %T", ErrKeyMismatch,
			cert.Subject.CommonName, cert.PublicKeyAlgorithm, key)
	}
	return &CA{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(certBlock),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: keyBlock.Type, Bytes: keyBlock.Bytes}),
	}, nil
}

// Pool returns a cert pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// findBlock returns the first PEM block in data of one of the types, or nil.
func findBlock(data []byte, types ...string) *pem.Block {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		for _, t := range types {
			if b.Type == t {
				return b
			}
		}
	}
}

// parseKey decodes an "EC PRIVATE KEY" (SEC 1) or "PRIVATE KEY" (PKCS #8)
// block into a signer.
func parseKey(b *pem.Block) (crypto.Signer, error) {
	if b.Type == pemECKey {
		k, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Type, err)
		}
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: %T cannot sign", b.Type, k)
	}
	return s, nil
}

// newSerial returns a random, positive serial number of at most 128 bits.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
