package resources

import (
	"context"
	"errors"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/skiff-sh/skiff/control/allocator"
	"github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
)

// A policy module's bytes do not fit one store request (raftstore caps a
// request at 1.5 MiB, as etcd does; a Go module is about 2 MiB, the limit is
// 16 MiB), so they are kept beside the PolicyModule object in chunks of
// moduleChunk bytes at modulePrefix/<object name>/<index>, written one
// request each before the object. Chunks are content-addressed through the
// object name: writing them again (a retried upload) writes the same bytes.
const (
	modulePrefix = "/skiff/wasm/"
	moduleChunk  = 1 << 20
)

// ErrModuleNotFound says that a module's bytes are not in the store.
var ErrModuleNotFound = errors.New("resources: policy module not found")

func chunkKey(name string, i int) []byte {
	return fmt.Appendf(nil, "%s%s/%05d", modulePrefix, name, i)
}

// writeModule stores wasm's chunks under the object name.
func writeModule(ctx context.Context, kv allocator.KV, name string, wasm []byte) error {
	for i := 0; i*moduleChunk < len(wasm); i++ {
		chunk := wasm[i*moduleChunk : min(len(wasm), (i+1)*moduleChunk)]
		_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
			RequestPut: &pb.PutRequest{Key: chunkKey(name, i), Value: chunk}}}}})
		if err != nil {
			return fmt.Errorf("resources: write chunk %d of module %s: %w", i, name, err)
		}
	}
	return nil
}

// deleteModule removes a module's chunks.
func deleteModule(ctx context.Context, kv allocator.KV, name string) error {
	prefix := []byte(modulePrefix + name + "/")
	_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{
		RequestDeleteRange: &pb.DeleteRangeRequest{Key: prefix, RangeEnd: prefixEnd(prefix)}}}}})
	if err != nil {
		return fmt.Errorf("resources: delete module %s: %w", name, err)
	}
	return nil
}

func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	end[len(end)-1]++ // p ends in '/'
	return end
}

// ReadModule returns the bytes of the module with content address digest
// ("sha256:<hex>"), read linearizably chunk by chunk and checked against
// the digest. ErrModuleNotFound if it is not stored.
func ReadModule(ctx context.Context, kv allocator.KV, digest string) ([]byte, error) {
	if err := skiffv1alpha1.ParseDigest(digest); err != nil {
		return nil, fmt.Errorf("resources: read module: %w", err)
	}
	name := skiffv1alpha1.ObjectName(digest)
	var wasm []byte
	for i := 0; ; i++ {
		resp, err := kv.Range(ctx, &pb.RangeRequest{Key: chunkKey(name, i)})
		if err != nil {
			return nil, fmt.Errorf("resources: read chunk %d of module %s: %w", i, digest, err)
		}
		if len(resp.Kvs) == 0 {
			break
		}
		wasm = append(wasm, resp.Kvs[0].Value...)
		if len(wasm) > skiffv1alpha1.MaxModuleBytes {
			return nil, fmt.Errorf("resources: module %s: more than %d bytes stored", digest, skiffv1alpha1.MaxModuleBytes)
		}
	}
	if len(wasm) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrModuleNotFound, digest)
	}
	if got := skiffv1alpha1.Digest(wasm); got != digest {
		return nil, fmt.Errorf("resources: module %s: stored bytes have digest %s", digest, got)
	}
	return wasm, nil
}
