// Package allocator hands out cluster-wide unique values — service cluster
// IPs from the service CIDR, node ports from their range — as keys in the
// replicated store, so every API server sees the same allocations. A value
// is claimed with a create-if-absent transaction; releasing deletes its key.
package allocator

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// KV is what an allocator needs of the store.
type KV interface {
	Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error)
	Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error)
}

// ErrAllocated is returned when a requested value is taken.
var ErrAllocated = errors.New("allocator: provided value is already allocated")

// ErrFull is returned when no value is left.
var ErrFull = errors.New("allocator: range is full")

// ErrOutOfRange is returned for a requested value outside the range.
var ErrOutOfRange = errors.New("allocator: provided value is not in the valid range")

// Range is a set of values kept under one key prefix.
type Range struct {
	kv     KV
	prefix string // ends with "/"
	size   int64
	// first is the offset of the first allocatable value.
	first int64
	// value and offset convert between the values and their offsets.
	value  func(off int64) string
	offset func(v string) (int64, bool)
}

// NewIPRange allocates the addresses of an IPv4 CIDR, skipping the network
// address, the first host address (kept for the "kubernetes" service, as
// Kubernetes does) and the broadcast address.
func NewIPRange(kv KV, prefix string, cidr netip.Prefix) (*Range, error) {
	if !cidr.Addr().Is4() || cidr.Bits() > 29 {
		return nil, fmt.Errorf("allocator: service CIDR %s must be IPv4 with at least 8 addresses", cidr)
	}
	cidr = cidr.Masked()
	base := new(big.Int).SetBytes(cidr.Addr().AsSlice()).Int64()
	size := int64(1) << (32 - cidr.Bits())
	return &Range{
		kv: kv, prefix: prefix + "/", size: size - 1, first: 2,
		value: func(off int64) string {
			n := uint32(base + off)
			return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}).String()
		},
		offset: func(v string) (int64, bool) {
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() || !cidr.Contains(a) {
				return 0, false
			}
			return new(big.Int).SetBytes(a.AsSlice()).Int64() - base, true
		},
	}, nil
}

// NewPortRange allocates the ports lo..hi.
func NewPortRange(kv KV, prefix string, lo, hi int) (*Range, error) {
	if lo < 1 || hi > 65535 || lo > hi {
		return nil, fmt.Errorf("allocator: port range %d-%d is invalid", lo, hi)
	}
	return &Range{
		kv: kv, prefix: prefix + "/", size: int64(hi - lo + 1), first: 0,
		value: func(off int64) string { return strconv.FormatInt(int64(lo)+off, 10) },
		offset: func(v string) (int64, bool) {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				return 0, false
			}
			return int64(n - lo), true
		},
	}, nil
}

// Contains reports whether v belongs to the range.
func (r *Range) Contains(v string) bool {
	off, ok := r.offset(v)
	return ok && off >= r.first && off < r.size
}

// Claim takes the value v for owner, or fails with ErrAllocated or
// ErrOutOfRange.
func (r *Range) Claim(ctx context.Context, v, owner string) error {
	if !r.Contains(v) {
		return ErrOutOfRange
	}
	ok, err := r.claim(ctx, v, owner)
	if err != nil {
		return err
	}
	if !ok {
		return ErrAllocated
	}
	return nil
}

func (r *Range) claim(ctx context.Context, v, owner string) (bool, error) {
	key := []byte(r.prefix + v)
	resp, err := r.kv.Txn(ctx, &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: key, Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: []byte(owner)}}}},
	})
	if err != nil {
		return false, fmt.Errorf("allocator: claim %s: %w", v, err)
	}
	return resp.Succeeded, nil
}

// Allocate takes a free value for owner: a random one, then the next free
// after it.
func (r *Range) Allocate(ctx context.Context, owner string) (string, error) {
	for attempt := 0; attempt < 5; attempt++ {
		used, err := r.used(ctx)
		if err != nil {
			return "", err
		}
		n := r.size - r.first
		if int64(len(used)) >= n {
			return "", ErrFull
		}
		start := rand.Int64N(n)
		for i := int64(0); i < n; i++ {
			off := r.first + (start+i)%n
			v := r.value(off)
			if used[v] {
				continue
			}
			ok, err := r.claim(ctx, v, owner)
			if err != nil {
				return "", err
			}
			if ok {
				return v, nil
			}
			break // raced with another allocation: look again
		}
	}
	return "", ErrFull
}

func (r *Range) used(ctx context.Context) (map[string]bool, error) {
	resp, err := r.kv.Range(ctx, &pb.RangeRequest{Key: []byte(r.prefix), RangeEnd: []byte(clientv3.GetPrefixRangeEnd(r.prefix)), KeysOnly: true})
	if err != nil {
		return nil, fmt.Errorf("allocator: list %s: %w", r.prefix, err)
	}
	used := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		used[string(kv.Key[len(r.prefix):])] = true
	}
	return used, nil
}

// Release frees v if owner holds it.
func (r *Range) Release(ctx context.Context, v, owner string) error {
	key := []byte(r.prefix + v)
	_, err := r.kv.Txn(ctx, &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: key, Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte(owner)}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: key}}}},
	})
	if err != nil {
		return fmt.Errorf("allocator: release %s: %w", v, err)
	}
	return nil
}
