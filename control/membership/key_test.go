package membership

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"testing"
)

// rfc5869 is an independent HKDF-SHA256 (extract with a zero salt, one
// expand block), to pin the derivation's parameters.
func rfc5869(secret []byte, info string) []byte {
	ext := hmac.New(sha256.New, make([]byte, sha256.Size))
	ext.Write(secret)
	prk := ext.Sum(nil)
	exp := hmac.New(sha256.New, prk)
	exp.Write([]byte(info))
	exp.Write([]byte{1})
	return exp.Sum(nil)
}

func TestDeriveGossipKey(t *testing.T) {
	tests := []struct {
		name  string
		token string
	}{
		{"short", "a"},
		{"typical", "K10abc123::server:0123456789abcdef"},
		{"unicode", "jöin-tøken"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k1, err := DeriveGossipKey(tt.token)
			if err != nil {
				t.Fatalf("DeriveGossipKey(%q): %v", tt.token, err)
			}
			if len(k1) != GossipKeySize || GossipKeySize != 32 {
				t.Fatalf("key length = %d, want 32", len(k1))
			}
			k2, _ := DeriveGossipKey(tt.token)
			if !bytes.Equal(k1, k2) {
				t.Fatalf("derivation is not deterministic: %x vs %x", k1, k2)
			}
			if want := rfc5869([]byte(tt.token), "skiff serf gossip key"); !bytes.Equal(k1, want) {
				t.Fatalf("key = %x, want HKDF-SHA256(token, info) = %x", k1, want)
			}
			if prev, ok := seen[string(k1)]; ok {
				t.Fatalf("tokens %q and %q derive the same key", prev, tt.token)
			}
			seen[string(k1)] = tt.token
		})
	}
}

func TestDeriveGossipKeyEmpty(t *testing.T) {
	if _, err := DeriveGossipKey(""); !errors.Is(err, ErrNoJoinToken) {
		t.Fatalf("DeriveGossipKey(\"\") error = %v, want ErrNoJoinToken", err)
	}
}
