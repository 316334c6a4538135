package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// DefaultEtcdPrefix is where EtcdRegister keeps its registers and where
// EtcdWatcher watches.
const DefaultEtcdPrefix = "/chaos/reg/"

// EtcdRegister is a register workload on keys through the etcd v3 API:
// read is a (linearizable) Get, write a Put, and cas a Txn comparing the
// value (or, for an absent register, the create revision) whose else branch
// reads the value that failed the compare.
type EtcdRegister struct {
	regs registers
	clis []*clientv3.Client
	next atomic.Uint64
}

var _ Finisher = (*EtcdRegister)(nil)

// NewEtcdRegister returns a workload over clis (client i uses
// clis[i%len(clis)]). An empty cfg.Prefix means DefaultEtcdPrefix.
func NewEtcdRegister(cfg RegisterConfig, clis ...*clientv3.Client) (*EtcdRegister, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultEtcdPrefix
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(clis) == 0 {
		return nil, errors.New("workload: etcd register: no etcd clients")
	}
	w := &EtcdRegister{clis: clis}
	tag := runTag()
	for i := range cfg.Keys {
		w.regs.keys = append(w.regs.keys, fmt.Sprintf("%s%s/%d", cfg.Prefix, tag, i))
	}
	w.regs.cfg, w.regs.b = cfg, etcdBackend{w}
	return w, nil
}

// Name implements Workload.
func (w *EtcdRegister) Name() string { return "etcd-register" }

// Keys returns the register keys of this run.
func (w *EtcdRegister) Keys() []string { return append([]string(nil), w.regs.keys...) }

// Run implements Workload.
func (w *EtcdRegister) Run(ctx context.Context, rec *history.Recorder) error {
	w.regs.run(ctx, rec)
	return nil
}

// Final implements Finisher.
func (w *EtcdRegister) Final(ctx context.Context, rec *history.Recorder) error {
	return w.regs.final(ctx, rec)
}

// cli picks the next client round robin, so every member is exercised.
func (w *EtcdRegister) cli() *clientv3.Client {
	return w.clis[int(w.next.Add(1)%uint64(len(w.clis)))]
}

type etcdBackend struct{ w *EtcdRegister }

func (b etcdBackend) read(ctx context.Context, key string) (history.Output, error) {
	resp, err := b.w.cli().Get(ctx, key)
	if err != nil {
		return history.Output{}, fmt.Errorf("get %s: %w", key, err)
	}
	return kvOutput(resp.Kvs), nil
}

func (b etcdBackend) write(ctx context.Context, key, value string) (history.Output, error) {
	resp, err := b.w.cli().Put(ctx, key, value)
	if err != nil {
		return history.Output{}, fmt.Errorf("put %s: %w", key, err)
	}
	return history.Output{Rev: resp.Header.GetRevision()}, nil
}

func (b etcdBackend) cas(ctx context.Context, key string, expect known, value string) (bool, history.Output, error) {
	cmp := clientv3.Compare(clientv3.Value(key), "=", expect.value)
	if expect.value == "" {
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	}
	resp, err := b.w.cli().Txn(ctx).If(cmp).Then(clientv3.OpPut(key, value)).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return false, history.Output{}, fmt.Errorf("txn on %s: %w", key, err)
	}
	if resp.Succeeded {
		return true, history.Output{Rev: resp.Header.GetRevision()}, nil
	}
	out := history.Output{}
	if len(resp.Responses) == 1 && resp.Responses[0].GetResponseRange() != nil {
		out = kvOutput(resp.Responses[0].GetResponseRange().Kvs)
		out.Observed = true
	}
	return false, out, nil
}

// definite: the request was refused before it could be applied.
func (etcdBackend) definite(err error) bool {
	switch grpcCode(err) {
	case codes.InvalidArgument, codes.ResourceExhausted, codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}

// grpcCode is the gRPC code of an etcd client error, or codes.Unknown.
func grpcCode(err error) codes.Code {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code()
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Code()
	}
	return codes.Unknown
}

func (b etcdBackend) final(ctx context.Context, key string) (history.Output, error) {
	return retry(ctx, func(ctx context.Context) (history.Output, error) { return b.read(ctx, key) })
}

func kvOutput(kvs []*mvccpb.KeyValue) history.Output {
	if len(kvs) == 0 {
		return history.Output{}
	}
	return history.Output{Value: string(kvs[0].Value), Found: true, Rev: kvs[0].ModRevision}
}

// retry calls f with a short timeout until it succeeds or ctx ends, with a
// little jittered backoff.
func retry[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	var last error
	for {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		v, err := f(c)
		cancel()
		if err == nil {
			return v, nil
		}
		last = err
		select {
		case <-ctx.Done():
			var zero T
			return zero, fmt.Errorf("%w (last error: %w)", ctx.Err(), last)
		case <-time.After(time.Duration(50+rand.IntN(100)) * time.Millisecond):
		}
	}
}
