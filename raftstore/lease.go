package raftstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/skiff-sh/skiff/raftstore/mvcc"
)

// Leases: grants and revocations are replicated; expiry is the leader's
// judgement, kept in its memory and acted on by proposing a revoke, so every
// replica agrees on when a lease ended. A new leader gives every lease a
// fresh TTL (as etcd does), so leases survive a leader change.

// leaseKeeper holds the leader's deadlines.
type leaseKeeper struct {
	mu       sync.Mutex
	deadline map[int64]time.Time
	revoking map[int64]bool
}

func newLeaseKeeper() *leaseKeeper {
	return &leaseKeeper{deadline: map[int64]time.Time{}, revoking: map[int64]bool{}}
}

func (k *leaseKeeper) reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.deadline = map[int64]time.Time{}
	k.revoking = map[int64]bool{}
}

// deadlineOf returns a lease's deadline, starting its clock if unseen.
func (k *leaseKeeper) deadlineOf(id, ttl int64, now time.Time) time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	d, ok := k.deadline[id]
	if !ok {
		d = now.Add(time.Duration(ttl) * time.Second)
		k.deadline[id] = d
	}
	return d
}

func (k *leaseKeeper) renew(id, ttl int64, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.deadline[id] = now.Add(time.Duration(ttl) * time.Second)
}

// LeaseGrant grants a lease. A zero ID asks the store to choose one.
func (s *Store) LeaseGrant(ctx context.Context, req *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	ttl := req.TTL
	if ttl > mvcc.MaxLeaseTTL {
		return nil, ErrLeaseTTL
	}
	if ttl < s.cfg.MinLeaseTTL {
		ttl = s.cfg.MinLeaseTTL
	}
	for attempt := 0; ; attempt++ {
		id := req.ID
		if id == 0 {
			id = rand.Int64N(1<<62) + 1 // chosen here, never in apply
		}
		resp, err := s.propose(ctx, cmdLeaseGrant, &pb.LeaseGrantRequest{ID: id, TTL: ttl})
		if errors.Is(err, ErrLeaseExists) && req.ID == 0 && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		out := resp.(*pb.LeaseGrantResponse)
		out.Header = s.header(out.GetHeader().GetRevision())
		return out, nil
	}
}

// LeaseRevoke revokes a lease and deletes the keys attached to it.
func (s *Store) LeaseRevoke(ctx context.Context, req *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	resp, err := s.propose(ctx, cmdLeaseRevoke, &pb.LeaseRevokeRequest{ID: req.ID})
	if err != nil {
		return nil, err
	}
	out := resp.(*pb.LeaseRevokeResponse)
	out.Header = s.header(out.GetHeader().GetRevision())
	return out, nil
}

// LeaseKeepAlive renews a lease for its full TTL and returns the TTL.
func (s *Store) LeaseKeepAlive(ctx context.Context, id int64) (int64, error) {
	var ttl int64
	err := s.onLeader(ctx, func(ctx context.Context) error {
		var err error
		ttl, err = s.LeaderLeaseKeepAlive(ctx, id)
		return err
	}, func(ctx context.Context, leader raft.ServerID) error {
		var err error
		ttl, err = s.cfg.Forwarder.LeaseKeepAlive(ctx, leader, id)
		return err
	})
	return ttl, err
}

// LeaderLeaseKeepAlive is the leader's side of Forwarder.LeaseKeepAlive.
func (s *Store) LeaderLeaseKeepAlive(_ context.Context, id int64) (int64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	var ttl int64
	var found bool
	s.fsm.read(func(kv *mvccStore) {
		if l, ok := kv.Lease(id); ok {
			ttl, found = l.TTL, true
		}
	})
	if !found {
		return 0, ErrLeaseNotFound
	}
	s.leases.renew(id, ttl, time.Now())
	return ttl, nil
}

// LeaseTimeToLive reports a lease's granted and remaining TTL and, if asked,
// its keys. An unknown lease gives ErrLeaseNotFound.
func (s *Store) LeaseTimeToLive(ctx context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	var resp *pb.LeaseTimeToLiveResponse
	err := s.onLeader(ctx, func(ctx context.Context) error {
		var err error
		resp, err = s.LeaderLeaseTimeToLive(ctx, req)
		return err
	}, func(ctx context.Context, leader raft.ServerID) error {
		var err error
		if resp, err = s.cfg.Forwarder.LeaseTimeToLive(ctx, leader, req); err == nil {
			resp.Header = s.header(resp.GetHeader().GetRevision())
		}
		return err
	})
	return resp, err
}

// LeaderLeaseTimeToLive is the leader's side of Forwarder.LeaseTimeToLive.
func (s *Store) LeaderLeaseTimeToLive(_ context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	var resp *pb.LeaseTimeToLiveResponse
	s.fsm.read(func(kv *mvccStore) {
		l, ok := kv.Lease(req.ID)
		if !ok {
			return
		}
		now := time.Now()
		left := s.leases.deadlineOf(l.ID, l.TTL, now).Sub(now)
		resp = &pb.LeaseTimeToLiveResponse{Header: s.header(kv.Rev()), ID: l.ID, GrantedTTL: l.TTL, TTL: max(int64((left+time.Second-1)/time.Second), 0)}
		if req.Keys {
			for _, k := range l.Keys() {
				resp.Keys = append(resp.Keys, []byte(k))
			}
		}
	})
	if resp == nil {
		return nil, ErrLeaseNotFound
	}
	return resp, nil
}

// LeaseLeases lists the granted leases.
func (s *Store) LeaseLeases(ctx context.Context) (*pb.LeaseLeasesResponse, error) {
	if err := s.linearize(ctx); err != nil {
		return nil, err
	}
	resp := &pb.LeaseLeasesResponse{}
	s.fsm.read(func(kv *mvccStore) {
		resp.Header = s.header(kv.Rev())
		for _, l := range kv.Leases() {
			resp.Leases = append(resp.Leases, &pb.LeaseStatus{ID: l.ID})
		}
	})
	return resp, nil
}

// expireLeases runs on the leader: it proposes a revoke for every lease past
// its deadline, a few at a time.
func (s *Store) expireLeases(ctx context.Context) {
	t := time.NewTicker(s.cfg.LeaseCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var expired []int64
		live := map[int64]bool{}
		s.fsm.read(func(kv *mvccStore) {
			for _, l := range kv.Leases() {
				live[l.ID] = true
				if now.After(s.leases.deadlineOf(l.ID, l.TTL, now)) {
					expired = append(expired, l.ID)
				}
			}
		})
		k := s.leases
		k.mu.Lock()
		for id := range k.deadline {
			if !live[id] {
				delete(k.deadline, id)
				delete(k.revoking, id)
			}
		}
		var start []int64
		for _, id := range expired {
			if !k.revoking[id] && len(start) < 256 {
				k.revoking[id] = true
				start = append(start, id)
			}
		}
		k.mu.Unlock()
		for _, id := range start {
			go func(id int64) {
				rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
				defer cancel()
				_, err := s.propose(rctx, cmdLeaseRevoke, &pb.LeaseRevokeRequest{ID: id})
				if err != nil && !errors.Is(err, ErrLeaseNotFound) {
					s.log.Warn("raftstore: revoke expired lease", "lease", id, "err", err)
				}
				k.mu.Lock()
				delete(k.revoking, id)
				k.mu.Unlock()
			}(id)
		}
	}
}
