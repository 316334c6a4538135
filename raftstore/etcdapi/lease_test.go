package etcdapi

import (
	"context"
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestLeaseThroughFollower(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	cli := newClient(t, c.urls[c.follower(t)])
	ctx := stepCtx(t)

	grant, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	if grant.ID == 0 || grant.TTL != 30 {
		t.Fatalf("grant: ID %x, TTL %d; want an ID and TTL 30", grant.ID, grant.TTL)
	}
	for _, k := range []string{"l/a", "l/b"} {
		if _, err := cli.Put(ctx, k, "v", clientv3.WithLease(grant.ID)); err != nil {
			t.Fatalf("put %s with lease: %v", k, err)
		}
	}

	ttl, err := cli.TimeToLive(ctx, grant.ID, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatalf("time to live: %v", err)
	}
	if ttl.GrantedTTL != 30 || ttl.TTL <= 0 || ttl.TTL > 30 || len(ttl.Keys) != 2 {
		t.Fatalf("time to live: granted %d, left %d, keys %q; want 30, (0,30], 2 keys", ttl.GrantedTTL, ttl.TTL, ttl.Keys)
	}

	once, err := cli.KeepAliveOnce(ctx, grant.ID)
	if err != nil || once.TTL != 30 || once.ID != grant.ID {
		t.Fatalf("keep-alive once = %+v, %v; want TTL 30", once, err)
	}
	// The keep-alive stream, renewing through the follower.
	kctx, stopKeepAlive := context.WithCancel(ctx)
	ch, err := cli.KeepAlive(kctx, grant.ID)
	if err != nil {
		t.Fatalf("keep-alive: %v", err)
	}
	select {
	case resp, ok := <-ch:
		if !ok || resp.TTL != 30 {
			t.Fatalf("keep-alive stream: %+v, open %v; want TTL 30", resp, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("keep-alive stream: no response within 10s")
	}
	stopKeepAlive()

	leases, err := cli.Leases(ctx)
	if err != nil || len(leases.Leases) != 1 || leases.Leases[0].ID != grant.ID {
		t.Fatalf("leases = %+v, %v; want just %x", leases, err, grant.ID)
	}

	// Unknown leases, as etcd answers them.
	const unknown = clientv3.LeaseID(0x5eed)
	if ttl, err := cli.TimeToLive(ctx, unknown); err != nil || ttl.TTL != -1 {
		t.Fatalf("time to live of an unknown lease = %+v, %v; want TTL -1 and no error", ttl, err)
	}
	if _, err := cli.KeepAliveOnce(ctx, unknown); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("keep-alive of an unknown lease: err %v; want %v", err, rpctypes.ErrLeaseNotFound)
	}
	if _, err := cli.Revoke(ctx, unknown); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("revoke of an unknown lease: err %v; want %v", err, rpctypes.ErrLeaseNotFound)
	}
	lc := pb.NewLeaseClient(cli.ActiveConnection())
	if _, err := lc.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: int64(grant.ID), TTL: 10}); !errors.Is(rpctypes.Error(err), rpctypes.ErrLeaseExist) {
		t.Fatalf("grant of an existing ID: err %v; want %v", err, rpctypes.ErrLeaseExist)
	}
	if _, err := cli.Grant(ctx, 1<<40); !errors.Is(err, rpctypes.ErrLeaseTTLTooLarge) {
		t.Fatalf("grant with a huge TTL: err %v; want %v", err, rpctypes.ErrLeaseTTLTooLarge)
	}

	// Revoking deletes the attached keys.
	if _, err := cli.Revoke(ctx, grant.ID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if left, err := cli.Get(ctx, "l/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || left.Count != 0 {
		t.Fatalf("keys after revoke = %v, %v; want none", left, err)
	}
}

func TestLeaseExpiryDeletesKeys(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	cli := newClient(t, c.urls[c.follower(t)])
	ctx := stepCtx(t)
	grant, err := cli.Grant(ctx, 1)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	if _, err := cli.Put(ctx, "short", "v", clientv3.WithLease(grant.ID)); err != nil {
		t.Fatalf("put with lease: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := cli.Get(ctx, "short")
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if len(resp.Kvs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key of a 1s lease still there after 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ttl, err := cli.TimeToLive(ctx, grant.ID); err != nil || ttl.TTL != -1 {
		t.Fatalf("time to live of an expired lease = %+v, %v; want TTL -1", ttl, err)
	}
}
