package apiserver

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/raftstore"
)

// NodeCredentialsPrefix is where node credentials live in the store: one key
// per node (NodeCredentialsPrefix+NAME) holding the hash of its bearer token,
// never the token.
const NodeCredentialsPrefix = "/skiff/credentials/nodes/"

// nodeTokenPrefix starts every node bearer token: "skiff-node.NAME.SECRET".
// The node's name rides in the token so that one key names where its hash
// is; SECRET (hex) has no dot, so the name is everything before the last one.
const nodeTokenPrefix = "skiff-node."

// credentialCacheTTL is how long a checked node token is believed without
// reading the store again: a replaced token keeps working that long on the
// servers that had checked it (the issuing server forgets it at once).
const credentialCacheTTL = 10 * time.Second

// credentialCacheMax bounds the cache; past it, it starts over.
const credentialCacheMax = 4096

// ErrUnknownCredential is a token that is no node's current credential.
var ErrUnknownCredential = errors.New("apiserver: unknown node credential")

// storedCredential is the value under a node's key.
type storedCredential struct {
	TokenHash string    `json:"tokenHash"`
	IssuedAt  time.Time `json:"issuedAt"`
}

// NodeCredentials issues node credentials and checks them, over the store.
// It is safe for concurrent use.
type NodeCredentials struct {
	store *raftstore.Store
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]cachedCredential // by token hash
}

type cachedCredential struct {
	node    string
	checked time.Time
}

// NewNodeCredentials keeps node credentials in store.
func NewNodeCredentials(store *raftstore.Store) *NodeCredentials {
	return &NodeCredentials{store: store, now: time.Now, cache: map[string]cachedCredential{}}
}

// Issue makes a new bearer token for node, replacing any it had: the old
// token stops working here at once and on other servers within
// credentialCacheTTL.
func (c *NodeCredentials) Issue(ctx context.Context, node string) (string, error) {
	if errs := validation.IsDNS1123Subdomain(node); len(errs) > 0 {
		return "", fmt.Errorf("apiserver: issue a credential for node %q: invalid name: %s", node, strings.Join(errs, "; "))
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", fmt.Errorf("apiserver: issue a credential for node %s: %w", node, err)
	}
	token := nodeTokenPrefix + node + "." + hex.EncodeToString(secret[:])
	value, err := json.Marshal(storedCredential{TokenHash: pki.TokenHash(token), IssuedAt: c.now().UTC()})
	if err != nil {
		return "", fmt.Errorf("apiserver: issue a credential for node %s: %w", node, err)
	}
	if _, err := c.store.Put(ctx, &pb.PutRequest{Key: []byte(NodeCredentialsPrefix + node), Value: value}); err != nil {
		return "", fmt.Errorf("apiserver: store the credential of node %s: %w", node, err)
	}
	c.mu.Lock()
	for h, e := range c.cache {
		if e.node == node {
			delete(c.cache, h)
		}
	}
	c.mu.Unlock()
	return token, nil
}

// Authenticate returns the node whose current credential token is. A token
// that is not one is ErrUnknownCredential; other errors are the store's.
func (c *NodeCredentials) Authenticate(ctx context.Context, token string) (string, error) {
	node, ok := nodeOfToken(token)
	if !ok {
		return "", ErrUnknownCredential
	}
	hash := pki.TokenHash(token)
	now := c.now()
	c.mu.Lock()
	e, hit := c.cache[hash]
	c.mu.Unlock()
	if hit && e.node == node && now.Sub(e.checked) < credentialCacheTTL {
		return node, nil
	}
	resp, err := c.store.Range(ctx, &pb.RangeRequest{Key: []byte(NodeCredentialsPrefix + node)})
	if err != nil {
		return "", fmt.Errorf("apiserver: read the credential of node %s: %w", node, err)
	}
	if len(resp.Kvs) != 1 {
		return "", ErrUnknownCredential
	}
	var sc storedCredential
	if err := json.Unmarshal(resp.Kvs[0].Value, &sc); err != nil {
		return "", fmt.Errorf("apiserver: stored credential of node %s: %w", node, err)
	}
	if !pki.TokenMatches(token, sc.TokenHash) {
		c.mu.Lock()
		delete(c.cache, hash)
		c.mu.Unlock()
		return "", ErrUnknownCredential
	}
	c.mu.Lock()
	if len(c.cache) >= credentialCacheMax {
		c.cache = map[string]cachedCredential{}
	}
	c.cache[hash] = cachedCredential{node: node, checked: now}
	c.mu.Unlock()
	return node, nil
}

// nodeOfToken is the node a token names, if it has a node token's shape.
func nodeOfToken(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, nodeTokenPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 || i == len(rest)-1 {
		return "", false
	}
	return rest[:i], true
}

// LogProxyToken is the bearer token API servers present to node daemons'
// log servers (Config.NodeToken) and the node daemons require (agent
// Config.LogToken): derived from the cluster's join token, which both
// hold, so it needs no distribution of its own.
func LogProxyToken(joinToken string) string {
	if joinToken == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(joinToken))
	m.Write([]byte("skiff node log proxy v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// caSignature proves that whoever sends caPEM knows the join token (whose
// hash is the key), as kubeadm's signed cluster-info does: a node checks it
// before trusting the CA, without sending the token to an unverified peer.
func caSignature(joinTokenHash string, caPEM []byte) string {
	m := hmac.New(sha256.New, []byte(joinTokenHash))
	m.Write([]byte("skiff cluster CA v1\n"))
	m.Write(caPEM)
	return hex.EncodeToString(m.Sum(nil))
}
