package pki

import (
	"encoding/hex"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatalf("NewToken: %v", err)
		}
		if got, want := len(tok), 64; got != want {
			t.Fatalf("len(%q) = %d, want %d", tok, got, want)
		}
		if _, err := hex.DecodeString(tok); err != nil || strings.ToLower(tok) != tok {
			t.Fatalf("token %q is not lower-case hex", tok)
		}
		if seen[tok] {
			t.Fatalf("NewToken returned %q twice", tok)
		}
		seen[tok] = true
	}
}

func TestTokenHash(t *testing.T) {
	tok, err := NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	h := TokenHash(tok)
	if got, want := len(h), 64; got != want {
		t.Fatalf("len(TokenHash) = %d, want %d", got, want)
	}
	if strings.Contains(h, tok) || strings.Contains(h, tok[:16]) {
		t.Fatalf("hash %q contains the token %q", h, tok)
	}
	if got, want := TokenHash(tok), h; got != want {
		t.Fatalf("TokenHash not stable: %q then %q", want, got)
	}
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	if got, want := TokenHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Fatalf("TokenHash(abc) = %q, want %q", got, want)
	}
}

func TestTokenMatches(t *testing.T) {
	tok, err := NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	other, err := NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	h := TokenHash(tok)
	tests := []struct {
		name        string
		token, hash string
		want        bool
	}{
		{"right token", tok, h, true},
		{"hash in upper case", tok, strings.ToUpper(h), true},
		{"other token", other, h, false},
		{"token with a character changed", tok[:63] + string(tok[63]^1), h, false},
		{"token with a suffix", tok + "0", h, false},
		{"the hash presented as the token", h, h, false},
		{"empty token", "", TokenHash(""), false},
		{"empty hash", tok, "", false},
		{"truncated hash", tok, h[:62], false},
		{"hash not hex", tok, strings.Repeat("z", 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TokenMatches(tt.token, tt.hash); got != tt.want {
				t.Fatalf("TokenMatches(%q, %q) = %t, want %t", tt.token, tt.hash, got, tt.want)
			}
		})
	}
}
