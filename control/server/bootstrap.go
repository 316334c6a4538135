package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/raftstore"
)

// Keys of the cluster-wide secrets every control node shares. The first
// server to write one wins; the others read what it wrote.
const (
	caKey         = "/skiff/pki/ca"
	adminTokenKey = "/skiff/auth/admin-token"
)

type storedCA struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

// clusterSecrets ensures the cluster CA and the admin token exist in the
// store and returns them. Every server calls it at start; a compare-and-put
// on the key's create revision makes exactly one proposal win.
func clusterSecrets(ctx context.Context, store *raftstore.Store, now time.Time) (*pki.CA, string, error) {
	fresh, err := pki.NewCA("skiff-ca", now)
	if err != nil {
		return nil, "", err
	}
	blob, err := json.Marshal(storedCA{Cert: fresh.CertPEM, Key: fresh.KeyPEM})
	if err != nil {
		return nil, "", fmt.Errorf("server: encode CA: %w", err)
	}
	got, err := createOrGet(ctx, store, caKey, blob)
	if err != nil {
		return nil, "", fmt.Errorf("server: store cluster CA: %w", err)
	}
	var sc storedCA
	if err := json.Unmarshal(got, &sc); err != nil {
		return nil, "", fmt.Errorf("server: stored cluster CA at %s: %w", caKey, err)
	}
	ca, err := pki.ParseCA(sc.Cert, sc.Key)
	if err != nil {
		return nil, "", fmt.Errorf("server: stored cluster CA at %s: %w", caKey, err)
	}
	token, err := pki.NewToken()
	if err != nil {
		return nil, "", err
	}
	got, err = createOrGet(ctx, store, adminTokenKey, []byte(token))
	if err != nil {
		return nil, "", fmt.Errorf("server: store admin token: %w", err)
	}
	return ca, string(got), nil
}

// createOrGet puts value at key unless the key exists, and returns the value
// the store holds afterwards. It retries while the cluster has no leader,
// until ctx ends.
func createOrGet(ctx context.Context, store *raftstore.Store, key string, value []byte) ([]byte, error) {
	req := &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte(key), Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: value}}}},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key)}}}},
	}
	for {
		resp, err := store.Txn(ctx, req)
		if err == nil {
			if resp.Succeeded {
				return value, nil
			}
			kvs := resp.Responses[0].GetResponseRange().GetKvs()
			if len(kvs) == 1 {
				return kvs[0].Value, nil
			}
			err = fmt.Errorf("key %s exists but reads empty", key)
		}
		if !retryable(err) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// retryable reports errors that a cluster still forming gives.
func retryable(err error) bool {
	return errors.Is(err, raftstore.ErrNoLeader) || errors.Is(err, raftstore.ErrTimeout) ||
		errors.Is(err, raftstore.ErrLeaderChanged) || errors.Is(err, raftstore.ErrNotLeader)
}
