package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/tools/chaos/check"
	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// memBackend is an in-memory register store. With stale set, reads are
// served from a snapshot taken every few writes, as a follower answering
// without confirming its leadership would; with flaky set, every third
// write is applied but answered with an error.
type memBackend struct {
	mu     sync.Mutex
	rev    int64
	vals   map[string]known
	snap   map[string]known
	writes int
	stale  bool
	flaky  bool
	// stop is called at the 600th write, to end the run.
	stop func()
}

var errFlaky = errors.New("connection reset")

func newMem() *memBackend { return &memBackend{vals: map[string]known{}, snap: map[string]known{}} }

func (m *memBackend) read(_ context.Context, key string) (history.Output, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.vals[key]
	if m.stale {
		k, ok = m.snap[key]
	}
	return history.Output{Value: k.value, Found: ok, Rev: k.rev}, nil
}

func (m *memBackend) applyLocked(key, value string) (history.Output, error) {
	m.rev++
	m.vals[key] = known{value, m.rev}
	m.writes++
	if m.writes == 600 && m.stop != nil {
		m.stop()
	}
	if m.writes%5 == 0 {
		m.snap = map[string]known{}
		for k, v := range m.vals {
			m.snap[k] = v
		}
	}
	if m.flaky && m.writes%3 == 0 {
		return history.Output{}, errFlaky
	}
	return history.Output{Rev: m.rev}, nil
}

func (m *memBackend) write(_ context.Context, key, value string) (history.Output, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applyLocked(key, value)
}

func (m *memBackend) cas(_ context.Context, key string, expect known, value string) (bool, history.Output, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.vals[key]; cur.value != expect.value {
		return false, history.Output{Value: cur.value, Found: cur.rev > 0, Rev: cur.rev, Observed: true}, nil
	}
	out, err := m.applyLocked(key, value)
	return err == nil, out, err
}

func (m *memBackend) definite(err error) bool { return false }

func (m *memBackend) final(ctx context.Context, key string) (history.Output, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.vals[key]
	return history.Output{Value: k.value, Found: ok, Rev: k.rev}, nil
}

// runMem runs the register clients on b for a moment and checks the history.
func runMem(t *testing.T, b *memBackend) (history.History, check.Verdict, check.Verdict) {
	t.Helper()
	cfg := DefaultRegisterConfig()
	cfg.Keys, cfg.Clients, cfg.Seed = 3, 4, 7
	r := &registers{cfg: cfg, b: b}
	for i := range cfg.Keys {
		r.keys = append(r.keys, fmt.Sprintf("k%d", i))
	}
	rec := history.NewRecorder(nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	b.mu.Lock()
	b.stop = cancel
	b.mu.Unlock()
	r.run(ctx, rec)
	if err := r.final(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	h := rec.History()
	ccfg := check.DefaultConfig()
	ccfg.ReportDir = t.TempDir()
	lin, err := check.Linearizable(h, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, lin, check.LostWrites(h)
}

func TestRegisterClientsAgainstMemory(t *testing.T) {
	tests := []struct {
		name    string
		b       *memBackend
		wantLin check.Result
	}{
		{"linearizable store", newMem(), check.Pass},
		{"writes answered with errors", &memBackend{vals: map[string]known{}, snap: map[string]known{}, flaky: true}, check.Pass},
		{"stale reads", &memBackend{vals: map[string]known{}, snap: map[string]known{}, stale: true}, check.Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, lin, lost := runMem(t, tt.b)
			if lin.Result != tt.wantLin {
				t.Errorf("linearizable: got %s, want %s: %s %v", lin.Result, tt.wantLin, lin.Summary, lin.Details)
			}
			if lost.Result != check.Pass {
				t.Errorf("lost writes: %s %v", lost.Summary, lost.Details)
			}
			count := map[history.Kind]int{}
			funcs := map[history.Func]int{}
			clients := map[int]bool{}
			for _, op := range h.Operations() {
				count[op.Status]++
				funcs[op.Func]++
				clients[op.Client] = true
			}
			// (Whether a compare-and-swap fails on a mismatch depends on how the goroutines
			// interleave against a store this fast, so failed ones are not required.)
			if funcs[history.Read] == 0 || funcs[history.Write] == 0 || funcs[history.CAS] == 0 || count[history.OK] == 0 {
				t.Errorf("workload did not mix operations: %v %v", funcs, count)
			}
			if tt.b.flaky && (count[history.Unknown] == 0 || len(clients) <= 4) {
				t.Errorf("errors did not make unknown operations under new client ids: %v, %d clients", count, len(clients))
			}
		})
	}
}

func TestDefinite(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	tests := []struct {
		name string
		def  func(error) bool
		err  error
		want bool
	}{
		{"etcd invalid argument", etcdBackend{}.definite, fmt.Errorf("put: %w", rpctypes.ErrGRPCEmptyKey), true},
		{"etcd no space", etcdBackend{}.definite, fmt.Errorf("put: %w", rpctypes.ErrGRPCNoSpace), true},
		{"etcd no leader", etcdBackend{}.definite, fmt.Errorf("put: %w", rpctypes.ErrGRPCNoLeader), false},
		{"etcd deadline", etcdBackend{}.definite, fmt.Errorf("put: %w", context.DeadlineExceeded), false},
		{"api conflict", cmBackend{}.definite, fmt.Errorf("update: %w", apierrors.NewConflict(gr, "x", errors.New("stale"))), true},
		{"api not sent", cmBackend{}.definite, fmt.Errorf("cas: %w", errNotSent), true},
		{"api timeout", cmBackend{}.definite, fmt.Errorf("patch: %w", apierrors.NewTimeoutError("slow", 1)), false},
		{"api unavailable", cmBackend{}.definite, fmt.Errorf("patch: %w", apierrors.NewServiceUnavailable("down")), false},
		{"transport", cmBackend{}.definite, errors.New("connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.def(tt.err); got != tt.want {
				t.Errorf("definite(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultRegisterConfig().Validate(); err != nil {
		t.Errorf("default register config: %v", err)
	}
	if err := DefaultWatchConfig().Validate(); err != nil {
		t.Errorf("default watch config: %v", err)
	}
	bad := DefaultRegisterConfig()
	bad.Keys, bad.Reads, bad.Writes, bad.CASes = 0, 0, 0, 0
	if _, err := NewEtcdRegister(bad); err == nil {
		t.Error("NewEtcdRegister accepted 0 keys and no operations")
	}
	if _, err := NewEtcdRegister(DefaultRegisterConfig()); err == nil {
		t.Error("NewEtcdRegister accepted no clients")
	}
	w := DefaultWatchConfig()
	w.Watchers, w.CatchUp = 0, 0
	if _, err := NewEtcdWatcher(w); err == nil {
		t.Error("NewEtcdWatcher accepted 0 watchers")
	}
	if _, err := NewConfigMapRegister(DefaultRegisterConfig(), ""); err == nil {
		t.Error("NewConfigMapRegister accepted no namespace")
	}
}
