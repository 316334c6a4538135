package pki

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"testing"
	"time"
)

func TestPeerCAIsTheSameForTheSameToken(t *testing.T) {
	a, err := PeerCA("token-1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := PeerCA("token-1")
	c, _ := PeerCA("token-2")
	if !bytes.Equal(a.CertPEM, b.CertPEM) || !bytes.Equal(a.KeyPEM, b.KeyPEM) {
		t.Error("two servers with the same token made different peer CAs")
	}
	if bytes.Equal(a.CertPEM, c.CertPEM) {
		t.Error("different tokens made the same peer CA")
	}
	if _, err := PeerCA(""); err == nil {
		t.Error("a peer CA from an empty token")
	}
	if _, err := ParseCA(a.CertPEM, a.KeyPEM); err != nil {
		t.Errorf("the peer CA does not parse back: %v", err)
	}
}

// handshake runs a TLS handshake over loopback TCP and sends one message through.
func handshake(t *testing.T, server, client *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = io.Copy(io.Discard, io.LimitReader(conn, 5))
		if err == nil {
			_, err = conn.Write([]byte("ok"))
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err != nil {
		return errors.Join(err, <-done)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err = c.Write([]byte("hello")); err == nil {
		_, err = io.ReadFull(c, make([]byte, 2))
	}
	return errors.Join(err, <-done)
}

func TestPeerTLSNeedsTheToken(t *testing.T) {
	now := time.Now()
	s1, _, err := PeerTLS("token-1", "n1", now)
	if err != nil {
		t.Fatal(err)
	}
	_, c2, err := PeerTLS("token-1", "n2", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, s1, c2); err != nil {
		t.Fatalf("members with the same token: %v", err)
	}
	_, stranger, _ := PeerTLS("token-2", "x", now)
	if err := handshake(t, s1, stranger); err == nil {
		t.Error("a member accepted a peer of another token")
	}
	// Without a certificate at all.
	anon := &tls.Config{RootCAs: s1.ClientCAs, ServerName: PeerName, MinVersion: tls.VersionTLS13}
	// A client that dialed an address, not the peer name, still verifies the chain.
	c2.ServerName = "127.0.0.1"
	if err := handshake(t, s1, c2); err != nil {
		t.Errorf("a member dialing an address: %v", err)
	}
	if err := handshake(t, s1, anon); err == nil {
		t.Error("a member accepted a peer without a certificate")
	}
	// A client of another token does not trust the member either.
	strangerServer, _, _ := PeerTLS("token-2", "y", now)
	if err := handshake(t, strangerServer, c2); err == nil {
		t.Error("a member trusted a server of another token")
	}
}
