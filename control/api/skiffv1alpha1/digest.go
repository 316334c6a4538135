package skiffv1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

const (
	digestPrefix = "sha256:"
	namePrefix   = "sha256-"
)

// Digest is the content address of a module: "sha256:<hex>".
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return digestPrefix + hex.EncodeToString(sum[:])
}

// ObjectName is the PolicyModule name of a content address: "sha256-<hex>".
func ObjectName(digest string) string {
	return namePrefix + strings.TrimPrefix(digest, digestPrefix)
}

// DigestOf is the content address a PolicyModule name stands for.
func DigestOf(name string) string {
	return digestPrefix + strings.TrimPrefix(name, namePrefix)
}

// ParseDigest checks that s is "sha256:" and 64 lowercase hex digits.
func ParseDigest(s string) error {
	h, ok := strings.CutPrefix(s, digestPrefix)
	if !ok {
		return fmt.Errorf("skiffv1alpha1: digest %q does not start with %q", s, digestPrefix)
	}
	if len(h) != 64 || strings.ToLower(h) != h {
		return fmt.Errorf("skiffv1alpha1: digest %q: want 64 lowercase hex digits", s)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return fmt.Errorf("skiffv1alpha1: digest %q: %w", s, err)
	}
	return nil
}

// Short is a digest's first 12 hex digits, for display.
func Short(digest string) string {
	h := strings.TrimPrefix(digest, digestPrefix)
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}
