package membership

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// GossipKeyInfo is the HKDF info string under which the gossip key is
// derived from the join token. Changing it changes every cluster's key.
const GossipKeyInfo = "skiff serf gossip key"

// GossipKeySize is the size of the derived gossip key: 32 bytes selects
// AES-256-GCM in memberlist.
const GossipKeySize = 32

// ErrNoJoinToken is returned when a gossip key is asked for without a token.
var ErrNoJoinToken = errors.New("membership: empty join token")

// DeriveGossipKey derives the 32-byte Serf gossip encryption key from the
// cluster's join token with HKDF-SHA256 (no salt, info GossipKeyInfo). The
// same token always yields the same key; different tokens yield unrelated
// keys.
func DeriveGossipKey(joinToken string) ([]byte, error) {
	if joinToken == "" {
		return nil, ErrNoJoinToken
	}
	key, err := hkdf.Key(sha256.New, []byte(joinToken), nil, GossipKeyInfo, GossipKeySize)
	if err != nil {
		return nil, fmt.Errorf("membership: deriving gossip key: %w", err)
	}
	return key, nil
}
