package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
)

// IssueServing issues a serving certificate for the given hosts (each a DNS
// name or an IP literal, go into DNSNames / IPAddresses), valid from now-1h
// for 1 year, ExtKeyUsageServerAuth, signed by the CA, with a fresh ECDSA
// P-256 key. The returned tls.Certificate has Leaf set and Certificate =
// [leaf DER, CA DER].
//
// At least one host is required: TLS clients match hosts against the
// subject alternative names only. The certificate never outlives the CA.
func (ca *CA) IssueServing(commonName string, hosts []string, now time.Time) (tls.Certificate, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return tls.Certificate{}, errors.New("pki: issue serving certificate: CA has no certificate or key")
	}
	if len(hosts) == 0 {
		return tls.Certificate{}, fmt.Errorf("pki: issue serving certificate %q: no hosts", commonName)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		NotBefore:   now.Add(-backdate),
		NotAfter:    now.Add(-backdate).AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// BasicConstraintsValid with IsCA false marks an end entity.
		BasicConstraintsValid: true,
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	for _, h := range hosts {
		switch ip := net.ParseIP(h); {
		case h == "":
			return tls.Certificate{}, fmt.Errorf("pki: issue serving certificate %q: empty host in %q", commonName, hosts)
		case ip != nil:
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		default:
			if !slices.Contains(tmpl.DNSNames, h) {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	serial, err := newSerial()
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: issue serving certificate %q: %w", commonName, err)
	}
	tmpl.SerialNumber = serial

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: issue serving certificate %q: generate key: %w", commonName, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: issue serving certificate %q for %q: %w", commonName, hosts, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: issue serving certificate %q: parse own certificate: %w", commonName, err)
	}
	return tls.Certificate{
		Certificate: [][]byte{der, ca.Cert.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}
