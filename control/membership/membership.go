package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"
)

// serfEventBuffer is the capacity of the channel Serf writes its events
// into. Serf blocks (holding its member lock) when it is full, so the
// forwarder drains it continuously and never waits on the consumer.
const serfEventBuffer = 256

// Membership is a running Serf member. Its methods are safe for concurrent
// use.
type Membership struct {
	cfg    Config
	log    *slog.Logger
	serf   *serf.Serf
	serfCh chan serf.Event
	events chan Event

	dropped atomic.Uint64

	mu   sync.Mutex
	seen map[string]seenStatus // status and when it was first seen, per member
	tags map[string]string     // current tags, TagRole included

	ctx    context.Context // cancelled by Shutdown; bounds background work
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error // Shutdown's result
}

type seenStatus struct {
	status Status
	since  time.Time
}

// Start creates the Serf member described by cfg, starts delivering its
// events, and joins cfg.Join if it is set. If the initial join fails and
// cfg.RetryJoinInterval is positive, Start returns the running member and
// keeps retrying in the background until a join succeeds or Shutdown;
// otherwise it shuts the member down and returns the error. ctx bounds
// only the initial join.
func Start(ctx context.Context, cfg Config) (*Membership, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key, err := DeriveGossipKey(cfg.JoinToken)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "membership", "member", cfg.NodeName)

	tags := make(map[string]string, len(cfg.Tags)+1)
	maps.Copy(tags, cfg.Tags)
	tags[TagRole] = string(cfg.Role)

	m := &Membership{
		cfg:    cfg,
		log:    logger,
		serfCh: make(chan serf.Event, serfEventBuffer),
		events: make(chan Event, cfg.EventBuffer),
		seen:   make(map[string]seenStatus),
		tags:   tags,
	}
	s, err := serf.Create(m.serfConfig(key))
	if err != nil {
		return nil, fmt.Errorf("membership: starting serf %s on %s: %w", cfg.NodeName, cfg.BindAddr, err)
	}
	m.serf = s
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(1)
	go m.forward()
	logger.Info("gossip started", "addr", m.Addr(), "role", cfg.Role)

	if len(cfg.Join) > 0 {
		if _, err := m.Join(ctx, cfg.Join); err != nil {
			if cfg.RetryJoinInterval <= 0 || ctx.Err() != nil {
				_ = m.Shutdown()
				return nil, err
			}
			logger.Warn("initial join failed; retrying in the background", "join", cfg.Join, "err", err)
			m.wg.Add(1)
			go m.retryJoin(cfg.Join, cfg.RetryJoinInterval)
		}
	}
	return m, nil
}

// serfConfig builds Serf's and memberlist's configuration from m.cfg.
func (m *Membership) serfConfig(key []byte) *serf.Config {
	cfg, t := m.cfg, m.cfg.Timings
	bindHost, bindPort, _ := splitHostPort(cfg.BindAddr) // validated

	sc := serf.DefaultConfig()
	sc.NodeName = cfg.NodeName
	sc.Tags = maps.Clone(m.tags)
	sc.EventCh = m.serfCh
	sc.LogOutput = nil
	sc.Logger = newLogLogger(m.log)
	sc.SnapshotPath = cfg.SnapshotPath
	sc.ReapInterval = t.ReapInterval
	sc.ReconnectInterval = t.ReconnectInterval
	sc.ReconnectTimeout = t.ReconnectTimeout
	sc.TombstoneTimeout = t.TombstoneTimeout
	sc.BroadcastTimeout = t.BroadcastTimeout
	sc.LeavePropagateDelay = t.LeavePropagateDelay
	sc.CoalescePeriod = 0 // one event per change, in order
	sc.DisableCoordinates = true

	mc := sc.MemberlistConfig
	mc.LogOutput = nil
	mc.Logger = sc.Logger
	mc.BindAddr = bindHost
	mc.BindPort = bindPort
	mc.AdvertisePort = bindPort
	if cfg.AdvertiseAddr != "" {
		host, port, _ := splitHostPort(cfg.AdvertiseAddr) // validated
		mc.AdvertiseAddr, mc.AdvertisePort = host, port
	}
	mc.SecretKey = key
	mc.GossipVerifyIncoming = true
	mc.GossipVerifyOutgoing = true
	mc.ProbeInterval = t.ProbeInterval
	mc.ProbeTimeout = t.ProbeTimeout
	mc.SuspicionMult = t.SuspicionMult
	mc.SuspicionMaxTimeoutMult = t.SuspicionMaxTimeoutMult
	mc.GossipInterval = t.GossipInterval
	mc.GossipNodes = t.GossipNodes
	mc.GossipToTheDeadTime = t.GossipToTheDeadTime
	mc.PushPullInterval = t.PushPullInterval
	mc.TCPTimeout = t.TCPTimeout
	mc.QueueCheckInterval = 30 * time.Second
	return sc
}

// forward turns Serf's member events into Events until Serf shuts down.
func (m *Membership) forward() {
	defer m.wg.Done()
	defer close(m.events)
	for {
		select {
		case e := <-m.serfCh:
			m.handle(e)
		case <-m.serf.ShutdownCh():
			for {
				select {
				case e := <-m.serfCh:
					m.handle(e)
				default:
					return
				}
			}
		}
	}
}

func (m *Membership) handle(e serf.Event) {
	me, ok := e.(serf.MemberEvent)
	if !ok {
		return // user events and queries are not used
	}
	typ, ok := fromSerfEventType(me.Type)
	if !ok {
		return
	}
	now := time.Now()
	for _, sm := range me.Members {
		mem := fromSerfMember(sm)
		m.mu.Lock()
		if typ == EventReap {
			delete(m.seen, mem.Name)
			mem.Since = now
		} else {
			mem.Since = m.observeLocked(mem.Name, mem.Status, now)
		}
		m.mu.Unlock()
		select {
		case m.events <- Event{Type: typ, Member: mem}:
		default:
			if n := m.dropped.Add(1); n == 1 || n%100 == 0 {
				m.log.Warn("event consumer is slow; dropping membership events (resync with Members)", "dropped", n)
			}
		}
	}
}

// observeLocked records that name is in status at now and returns since
// when it has been in that status.
func (m *Membership) observeLocked(name string, st Status, now time.Time) time.Time {
	if prev, ok := m.seen[name]; ok && prev.status == st {
		return prev.since
	}
	m.seen[name] = seenStatus{status: st, since: now}
	return now
}

func (m *Membership) retryJoin(addrs []string, every time.Duration) {
	defer m.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		n, err := m.Join(m.ctx, addrs)
		if err == nil {
			m.log.Info("joined after retrying", "join", addrs, "contacted", n)
			return
		}
		m.log.Debug("retrying join", "join", addrs, "err", err)
	}
}

// ErrShutdown is returned by calls made after Shutdown.
var ErrShutdown = errors.New("membership: shut down")

// Join contacts the members at addrs (gossip host:port) and joins their
// cluster. It returns how many were contacted; it fails only if none was.
func (m *Membership) Join(ctx context.Context, addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, errors.New("membership: join: no addresses")
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	if !m.goBackground(func() {
		n, err := m.serf.Join(addrs, true)
		done <- result{n, err}
	}) {
		return 0, ErrShutdown
	}
	select {
	case r := <-done:
		if r.n == 0 {
			if r.err == nil {
				r.err = errors.New("no member contacted")
			}
			return 0, fmt.Errorf("membership: joining %s: %w", strings.Join(addrs, ","), r.err)
		}
		if r.err != nil {
			m.log.Warn("joined, but some addresses failed", "contacted", r.n, "err", r.err)
		}
		return r.n, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("membership: joining %s: %w", strings.Join(addrs, ","), ctx.Err())
	}
}

// goBackground runs f in a goroutine that Shutdown waits for, unless the
// member is already shut down.
func (m *Membership) goBackground(f func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

// Members returns every member this process knows of, itself included,
// sorted by name.
func (m *Membership) Members() []Member {
	sms := m.serf.Members()
	out := make([]Member, 0, len(sms))
	now := time.Now()
	m.mu.Lock()
	for _, sm := range sms {
		mem := fromSerfMember(sm)
		mem.Since = m.observeLocked(mem.Name, mem.Status, now)
		out = append(out, mem)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Servers returns the members with the server role, in any status, sorted
// by name.
func (m *Membership) Servers() []Member {
	return FilterRole(m.Members(), RoleServer)
}

// FilterRole returns the members of ms that have role r, in order.
func FilterRole(ms []Member, r Role) []Member {
	var out []Member
	for _, mem := range ms {
		if mem.Role == r {
			out = append(out, mem)
		}
	}
	return out
}

// LocalMember returns this process's own member entry.
func (m *Membership) LocalMember() Member {
	mem := fromSerfMember(m.serf.LocalMember())
	m.mu.Lock()
	mem.Since = m.observeLocked(mem.Name, mem.Status, time.Now())
	m.mu.Unlock()
	return mem
}

// Addr returns the gossip address (host:port) others can join, with the
// port the kernel picked when BindAddr had port 0.
func (m *Membership) Addr() string {
	n := m.serf.Memberlist().LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Events delivers membership changes. The channel is buffered
// (Config.EventBuffer) and never blocks Serf: when it is full, events are
// dropped and counted in Dropped, and the consumer should resync from
// Members. It is closed after Shutdown.
func (m *Membership) Events() <-chan Event { return m.events }

// Dropped returns how many events were dropped because Events was full.
func (m *Membership) Dropped() uint64 { return m.dropped.Load() }

// SetTags replaces this member's tags (TagRole is kept from Config.Role and
// must not be set) and gossips them; others see an EventUpdate.
func (m *Membership) SetTags(tags map[string]string) error {
	if _, ok := tags[TagRole]; ok {
		return fmt.Errorf("membership: set tags: tag %q is set from Role", TagRole)
	}
	next := make(map[string]string, len(tags)+1)
	maps.Copy(next, tags)
	next[TagRole] = string(m.cfg.Role)
	if err := m.serf.SetTags(next); err != nil {
		return fmt.Errorf("membership: set tags on %s: %w", m.cfg.NodeName, err)
	}
	m.mu.Lock()
	m.tags = next
	m.mu.Unlock()
	return nil
}

// Tags returns this member's current tags, TagRole included.
func (m *Membership) Tags() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.tags)
}

// RemoveFailed forces a failed member out of the gossip now instead of
// after ReconnectTimeout, and forgets it (`skiff cluster remove NAME`).
func (m *Membership) RemoveFailed(ctx context.Context, name string) error {
	return m.blocking(ctx, "remove "+name, func() error { return m.serf.RemoveFailedNodePrune(name) })
}

// Leave announces a graceful departure and waits for it to spread (up to
// about 2*BroadcastTimeout + LeavePropagateDelay). Others see the member
// as left, not failed. Shutdown must still be called.
func (m *Membership) Leave(ctx context.Context) error {
	return m.blocking(ctx, "leave", m.serf.Leave)
}

// blocking runs f in the background and waits for it or ctx.
func (m *Membership) blocking(ctx context.Context, what string, f func() error) error {
	done := make(chan error, 1)
	if !m.goBackground(func() { done <- f() }) {
		return ErrShutdown
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("membership: %s on %s: %w", what, m.cfg.NodeName, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("membership: %s on %s: %w", what, m.cfg.NodeName, ctx.Err())
	}
}

// Shutdown stops the member without a leave (others will see it fail),
// stops all its goroutines and closes Events. Call Leave first for a
// graceful exit. It is safe to call more than once.
func (m *Membership) Shutdown() error {
	m.once.Do(func() {
		m.mu.Lock()
		m.cancel()
		m.mu.Unlock()
		if err := m.serf.Shutdown(); err != nil {
			m.err = fmt.Errorf("membership: shutting down %s: %w", m.cfg.NodeName, err)
		}
		m.wg.Wait()
		m.log.Info("gossip stopped")
	})
	return m.err
}
