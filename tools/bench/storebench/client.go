package storebench

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// newClient returns an etcd v3 client for endpoints. It connects lazily and logs
// nothing: the client's retry warnings would drown the report during failover.
func newClient(endpoints []string) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints,
		Logger:    zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("storebench: client for %v: %w", endpoints, err)
	}
	return cli, nil
}

// connect opens n clients, each its own gRPC connection, to endpoint and makes
// one request on each, so that dialling is not part of any measurement.
func connect(ctx context.Context, endpoint string, n int) ([]*clientv3.Client, error) {
	clis := make([]*clientv3.Client, 0, n)
	for range n {
		cli, err := newClient([]string{endpoint})
		if err != nil {
			closeAll(clis)
			return nil, err
		}
		clis = append(clis, cli)
		wctx, cancel := context.WithTimeout(ctx, statusTimeout*5)
		_, err = cli.Get(wctx, "bench/warmup")
		cancel()
		if err != nil {
			closeAll(clis)
			return nil, fmt.Errorf("storebench: warm-up get via %s: %w", endpoint, err)
		}
	}
	return clis, nil
}

// closeAll closes clis; closing a client whose server is gone is not news.
func closeAll(clis []*clientv3.Client) {
	for _, c := range clis {
		c.Close()
	}
}
