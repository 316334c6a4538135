package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/pkg/dialer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// Config configures a Runtime. Start from DefaultConfig.
type Config struct {
	// Address is the containerd gRPC socket (Daemon.Socket).
	Address string
	// Namespace is the containerd namespace holding all of skiff's images
	// and containers.
	Namespace string
	// HostsDir is a containerd hosts directory (<dir>/<registry>/hosts.toml)
	// through which images are resolved; see WriteMirrorHosts. Empty: the
	// registries named in image references, over HTTPS.
	HostsDir string
	// Snapshotter unpacks images and holds container root filesystems.
	Snapshotter string
	// RuncRoot is runc's state directory (Daemon.RuncRoot); empty: the shim's
	// default, /run/containerd/runc.
	RuncRoot string
	// FIFODir holds the FIFOs of exec'd processes (Daemon.FIFODir).
	FIFODir string
	// LoggerBinary is the logging binary the shim runs for each container
	// (a path whose basename is podlogs.LoggerName, dispatching to
	// podlogs.LoggerMain). Empty: the shim writes raw output to the log file.
	LoggerBinary string
	// LogMaxSize and LogMaxFiles rotate container log files (logging binary
	// only).
	LogMaxSize  int64
	LogMaxFiles int
	// ExecOutputLimit caps the output Exec keeps (kubelet keeps 10 KiB of a
	// probe's output).
	ExecOutputLimit int
	// ExitBuffer is the capacity of the Exits channel.
	ExitBuffer int
	// DialTimeout bounds connecting to containerd in New.
	DialTimeout time.Duration
	// ResubscribeBackoff is the first and MaxResubscribeBackoff the longest
	// pause between attempts to re-subscribe to containerd's events.
	ResubscribeBackoff    time.Duration
	MaxResubscribeBackoff time.Duration
}

// DefaultConfig returns a Config with kubelet-like defaults; Address is left
// empty.
func DefaultConfig() Config {
	return Config{
		Namespace:             "skiff",
		Snapshotter:           "overlayfs",
		LogMaxSize:            10 << 20,
		LogMaxFiles:           5,
		ExecOutputLimit:       10 << 10,
		ExitBuffer:            1024,
		DialTimeout:           10 * time.Second,
		ResubscribeBackoff:    50 * time.Millisecond,
		MaxResubscribeBackoff: 2 * time.Second,
	}
}

// Validate reports a configuration New cannot use.
func (c Config) Validate() error {
	switch {
	case c.Address == "":
		return errors.New("runtime: config: Address is required")
	case c.Namespace == "":
		return errors.New("runtime: config: Namespace is required")
	case c.Snapshotter == "":
		return errors.New("runtime: config: Snapshotter is required")
	case c.LoggerBinary != "" && !filepath.IsAbs(c.LoggerBinary):
		return fmt.Errorf("runtime: config: LoggerBinary %q must be absolute", c.LoggerBinary)
	case c.LogMaxFiles < 1:
		return fmt.Errorf("runtime: config: LogMaxFiles %d must be at least 1", c.LogMaxFiles)
	case c.ExecOutputLimit <= 0 || c.ExitBuffer < 0 || c.DialTimeout <= 0:
		return errors.New("runtime: config: ExecOutputLimit and DialTimeout must be positive, ExitBuffer not negative")
	case c.ResubscribeBackoff <= 0 || c.MaxResubscribeBackoff < c.ResubscribeBackoff:
		return errors.New("runtime: config: ResubscribeBackoff must be positive and at most MaxResubscribeBackoff")
	}
	if c.LoggerBinary != "" {
		if _, err := os.Stat(c.LoggerBinary); err != nil {
			return fmt.Errorf("runtime: config: LoggerBinary: %w", err)
		}
	}
	return nil
}

// Runtime runs containers on one containerd. It is safe for concurrent use.
type Runtime struct {
	cfg    Config
	client *containerd.Client
	logger *slog.Logger

	exits   chan Exit
	events  chan exitNote // from Start, Delete and waiters to the exit loop
	loopCtx context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	waitMu  sync.Mutex
	waiting map[string]bool // containers with a waiter

	pullMu sync.Mutex
	pulls  map[string]*sync.Mutex // one pull at a time per reference
}

// New connects to containerd and starts reporting exits on Exits. Close it
// when done.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client, err := containerd.New(cfg.Address,
		containerd.WithDefaultNamespace(cfg.Namespace),
		containerd.WithTimeout(cfg.DialTimeout),
		containerd.WithDialOpts(dialOptions()),
		// While containerd restarts, calls wait for it (bounded by their
		// context) instead of failing at once.
		containerd.WithCallOpts([]grpc.CallOption{grpc.WaitForReady(true)}))
	if err != nil {
		return nil, fmt.Errorf("runtime: connecting to containerd at %s: %w", cfg.Address, err)
	}
	if cfg.FIFODir != "" {
		if err := os.MkdirAll(cfg.FIFODir, 0o700); err != nil {
			client.Close()
			return nil, fmt.Errorf("runtime: creating FIFO dir: %w", err)
		}
	}
	loopCtx, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), cfg.Namespace))
	r := &Runtime{
		cfg:     cfg,
		client:  client,
		logger:  logger,
		exits:   make(chan Exit, cfg.ExitBuffer),
		events:  make(chan exitNote, 64),
		loopCtx: loopCtx,
		cancel:  cancel,
		pulls:   map[string]*sync.Mutex{},
		waiting: map[string]bool{},
	}
	r.wg.Add(1)
	go r.exitLoop(loopCtx)
	return r, nil
}

// Close stops reporting exits (closing the Exits channel) and closes the
// connection. Containers keep running.
func (r *Runtime) Close() error {
	r.cancel()
	r.wg.Wait()
	close(r.exits)
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("runtime: closing containerd client: %w", err)
	}
	return nil
}

// Client is the underlying containerd client, for tools and tests.
func (r *Runtime) Client() *containerd.Client { return r.client }

// dialOptions are containerd's client defaults with a shorter reconnect
// backoff, so that a restarted containerd is found again within ~0.5 s.
func dialOptions() []grpc.DialOption {
	bo := backoff.DefaultConfig
	bo.MaxDelay = 500 * time.Millisecond
	return []grpc.DialOption{
		grpc.WithBlock(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.FailOnNonTempDialError(true),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: 2 * time.Second}),
		grpc.WithContextDialer(dialer.ContextDialer),
		grpc.WithReturnConnectionError(),
	}
}

func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}
