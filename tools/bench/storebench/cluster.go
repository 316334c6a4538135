package storebench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-sh/skiff/tools/bench/proc"
)

// member is one server process of a cluster.
type member struct {
	*proc.Process
	endpoint string // etcd v3 gRPC API, host:port on loopback
}

// memberSpec says how to start one member.
type memberSpec struct {
	name     string
	endpoint string
	dataDir  string // created empty, mode 0700, before the process starts
	bin      string
	args     []string
	env      []string
}

// cluster is a set of server processes answering the etcd v3 API.
type cluster struct {
	kind    string // "etcd" or "skiff", used in messages and results
	members []*member
	admin   *clientv3.Client // for Maintenance.Status on single endpoints
	log     *slog.Logger
}

const (
	statusTimeout = time.Second
	pollInterval  = 100 * time.Millisecond
)

// startCluster starts every member, logging each one's stdout and stderr to
// files in logDir. On error, whatever was started has been stopped again.
func startCluster(kind, logDir string, specs []memberSpec, log *slog.Logger) (*cluster, error) {
	c := &cluster{kind: kind, log: log.With("store", kind)}
	for _, s := range specs {
		m, err := launch(s, logDir)
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("storebench: start %s member %s: %w", kind, s.name, err)
		}
		c.log.Debug("member started", "member", s.name, "pid", m.Pid(), "endpoint", s.endpoint, "args", s.args)
		c.members = append(c.members, m)
	}
	admin, err := newClient([]string{c.endpoints()[0]})
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("storebench: %s admin client: %w", kind, err)
	}
	c.admin = admin
	return c, nil
}

// launch starts one member's process with an empty data directory.
func launch(s memberSpec, logDir string) (*member, error) {
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	p, err := proc.Start(s.name, logDir, s.bin, s.args, s.env)
	if err != nil {
		return nil, err
	}
	return &member{Process: p, endpoint: s.endpoint}, nil
}

// describe names the member and quotes its stderr tail.
func (m *member) describe(kind string) string {
	return fmt.Sprintf("--- %s %s (%s) stderr, last lines ---\n%s", kind, m.Name, m.endpoint, m.StderrTail())
}

func (c *cluster) endpoints() []string {
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.endpoint
	}
	return eps
}

// stop kills every member and waits for them; it is safe to call more than once.
func (c *cluster) stop() {
	if c.admin != nil {
		c.admin.Close()
		c.admin = nil
	}
	for _, m := range c.members {
		if err := m.Kill(); err != nil {
			c.log.Error("stop member", "member", m.Name, "err", err)
		}
	}
}

// checkAlive fails if a member we did not kill has exited.
func (c *cluster) checkAlive() error {
	for _, m := range c.members {
		if exited, err := m.Unexpected(); exited {
			return fmt.Errorf("storebench: %s member %s exited unexpectedly (%v)\n%s", c.kind, m.Name, err, m.describe(c.kind))
		}
	}
	return nil
}

// status asks one member for its Maintenance.Status.
func (c *cluster) status(ctx context.Context, m *member) (*clientv3.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	resp, err := c.admin.Status(ctx, m.endpoint)
	if err != nil {
		return nil, fmt.Errorf("status of %s at %s: %w", m.Name, m.endpoint, err)
	}
	return resp, nil
}

// waitHealthy waits until every member answers Status and reports an elected
// leader, for at most timeout.
func (c *cluster) waitHealthy(ctx context.Context, timeout time.Duration) error {
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lastErr := make([]error, len(c.members))
	for {
		if err := c.checkAlive(); err != nil {
			return err
		}
		var wg sync.WaitGroup
		for i, m := range c.members {
			wg.Go(func() { lastErr[i] = c.ready(dctx, m) })
		}
		wg.Wait()
		if !slices.ContainsFunc(lastErr, func(err error) bool { return err != nil }) {
			c.log.Info("cluster healthy", "after", time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-dctx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("storebench: wait for %s cluster: %w", c.kind, err)
			}
			return c.unhealthyError(timeout, lastErr)
		case <-time.After(pollInterval):
		}
	}
}

// ready fails unless m answers Status and knows a leader.
func (c *cluster) ready(ctx context.Context, m *member) error {
	resp, err := c.status(ctx, m)
	if err != nil {
		return err
	}
	if resp.Leader == 0 {
		return fmt.Errorf("%s at %s: no leader elected", m.Name, m.endpoint)
	}
	return nil
}

func (c *cluster) unhealthyError(timeout time.Duration, lastErr []error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "storebench: %s cluster not healthy after %v:", c.kind, timeout)
	for _, err := range lastErr {
		if err != nil {
			fmt.Fprintf(&b, "\n  %v", err)
		}
	}
	for i, m := range c.members {
		if lastErr[i] != nil {
			b.WriteString("\n")
			b.WriteString(m.describe(c.kind))
		}
	}
	return errors.New(b.String())
}

// leader returns the member that reports itself leader (Status Leader equal to
// its own member ID), asking again until one does or timeout passes.
func (c *cluster) leader(ctx context.Context, timeout time.Duration) (*member, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		for _, m := range c.members {
			if m.Exited() {
				continue
			}
			resp, err := c.status(ctx, m)
			if err != nil {
				last = err
				continue
			}
			if resp.Leader != 0 && resp.Leader == resp.Header.MemberId {
				return m, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("storebench: find %s leader: %w (last status error: %v)", c.kind, ctx.Err(), last)
		case <-time.After(pollInterval):
		}
	}
}
