package apibench

import (
	"bytes"
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// storeClients opens one etcd v3 client per server and makes one request on
// each, so that dialling is not part of the measurement.
func storeClients(ctx context.Context, c *cluster, timeout time.Duration) ([]*clientv3.Client, error) {
	var clis []*clientv3.Client
	for _, s := range c.servers {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{s.etcdAddr}, Logger: zap.NewNop()})
		if err != nil {
			closeAll(clis)
			return nil, fmt.Errorf("apibench: etcd client for %s at %s: %w", s.Name, s.etcdAddr, err)
		}
		clis = append(clis, cli)
		gctx, cancel := context.WithTimeout(ctx, timeout)
		_, err = cli.Get(gctx, "/apibench/warmup")
		cancel()
		if err != nil {
			closeAll(clis)
			return nil, fmt.Errorf("apibench: warm-up get on %s at %s: %w", s.Name, s.etcdAddr, err)
		}
	}
	return clis, nil
}

func closeAll(clis []*clientv3.Client) {
	for _, c := range clis {
		c.Close()
	}
}

// storedSize is the size of the value under key, which must exist.
func storedSize(ctx context.Context, cli *clientv3.Client, key string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("apibench: get %s from the store: %w", key, err)
	}
	if len(resp.Kvs) != 1 {
		return 0, fmt.Errorf("apibench: get %s from the store: %d keys, want 1", key, len(resp.Kvs))
	}
	return len(resp.Kvs[0].Value), nil
}

// putValue is a store value of size bytes.
func putValue(size int) string {
	return string(bytes.Repeat([]byte("k8s\x00"), size/4+1)[:size])
}
