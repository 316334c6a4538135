package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// PeerName is the name every member's peer certificate carries and every member checks:
// membership is proven by the chain to the peer CA, not by a host name.
const PeerName = "skiff-peer"

// Fixed validity of the peer CA: the same on every member, so its certificate is the same.
var (
	peerCANotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	peerCANotAfter  = time.Date(2120, 1, 1, 0, 0, 0, 0, time.UTC)
)

// PeerCA is the CA of the control servers' own links (raft), derived from the cluster's join
// token: its Ed25519 key comes from the token through HKDF-SHA256, and everything else in its
// certificate is fixed, so every server holding the token makes the same CA, and a process
// without the token can neither present a certificate it accepts nor accept one it presents.
// No secret beyond the token has to be distributed before the servers can talk.
func PeerCA(joinToken string) (*CA, error) {
	if joinToken == "" {
		return nil, errors.New("pki: peer CA: empty join token")
	}
	seed, err := hkdf.Key(sha256.New, []byte(joinToken), []byte("skiff"), "skiff peer CA v1", ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("pki: peer CA: derive key: %w", err)
	}
	key := ed25519.NewKeyFromSeed(seed)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "skiff-peer-ca"},
		NotBefore:             peerCANotBefore,
		NotAfter:              peerCANotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	// Ed25519 signatures are deterministic: no randomness enters the certificate.
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: peer CA: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: peer CA: parse own certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: peer CA: marshal key: %w", err)
	}
	return &CA{
		Cert: cert, Key: key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: pemPKCS8, Bytes: keyDER}),
	}, nil
}

// IssuePeer issues a member's certificate for mutual TLS between members: name PeerName,
// usable as server and client, valid from now-1h for 1 year, with a fresh ECDSA P-256 key.
func (ca *CA) IssuePeer(member string, now time.Time) (tls.Certificate, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return tls.Certificate{}, errors.New("pki: issue peer certificate: CA has no certificate or key")
	}
	serial, err := newSerial()
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: issue peer certificate %q: %w", member, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: member, OrganizationalUnit: []string{PeerName}},
		DNSNames:              []string{PeerName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(-backdate).AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: issue peer certificate %q: generate key: %w", member, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: issue peer certificate %q: %w", member, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: issue peer certificate %q: parse own certificate: %w", member, err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// PeerTLS returns the mutual TLS configurations of a member's links: the server side requires
// and verifies a client certificate from the peer CA, the client side verifies the server's
// and presents its own. Both are TLS 1.3 only.
func PeerTLS(joinToken, member string, now time.Time) (server, client *tls.Config, err error) {
	ca, err := PeerCA(joinToken)
	if err != nil {
		return nil, nil, err
	}
	cert, err := ca.IssuePeer(member, now)
	if err != nil {
		return nil, nil, err
	}
	pool := ca.Pool()
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}
	// The client checks the server's chain against the peer CA and its name against PeerName,
	// whatever address it dialed (gRPC clients, etcd's among them, set the server name to the
	// dialed host): membership is the CA, not an address.
	client = &tls.Config{
		Certificates:          []tls.Certificate{cert},
		InsecureSkipVerify:    true, //nolint:gosec // VerifyPeerCertificate verifies the chain and the name
		VerifyPeerCertificate: verifyPeer(pool),
		MinVersion:            tls.VersionTLS13,
	}
	return server, client, nil
}

// verifyPeer verifies a server's certificate chain against the peer CA, for PeerName.
func verifyPeer(pool *x509.CertPool) func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) == 0 {
			return errors.New("pki: peer presented no certificate")
		}
		certs := make([]*x509.Certificate, len(rawCerts))
		for i, raw := range rawCerts {
			c, err := x509.ParseCertificate(raw)
			if err != nil {
				return fmt.Errorf("pki: peer certificate: %w", err)
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{
			Roots: pool, Intermediates: inter, DNSName: PeerName,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return fmt.Errorf("pki: peer certificate: %w", err)
		}
		return nil
	}
}
