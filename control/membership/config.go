package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Timings are the gossip and failure-detection timings handed to Serf and
// memberlist. A member is declared failed roughly ProbeInterval +
// SuspicionMult*ProbeInterval (up to SuspicionMaxTimeoutMult times that
// while no other member confirms the suspicion) after it stops answering.
type Timings struct {
	ProbeInterval           time.Duration // how often each member probes a random other
	ProbeTimeout            time.Duration // how long to wait for a probe's ack
	SuspicionMult           int           // suspect for SuspicionMult*max(1,log10(n))*ProbeInterval before failed
	SuspicionMaxTimeoutMult int           // upper bound of the suspicion timeout, as a multiple of the lower
	GossipInterval          time.Duration // how often to gossip to GossipNodes members
	GossipNodes             int
	GossipToTheDeadTime     time.Duration // keep gossiping to a dead member this long so it can refute
	PushPullInterval        time.Duration // full state sync with a random member
	TCPTimeout              time.Duration // dial and push/pull timeout
	ReapInterval            time.Duration // how often failed and left members are checked for reaping
	ReconnectInterval       time.Duration // how often to try reconnecting to failed members
	ReconnectTimeout        time.Duration // forget a failed member after this long
	TombstoneTimeout        time.Duration // forget a left member after this long
	BroadcastTimeout        time.Duration // wait for a leave (or force-leave) to be sent
	LeavePropagateDelay     time.Duration // stay up this long after leaving so the news spreads
}

// Config configures a Membership. Start from DefaultConfig (or FastConfig in
// tests), fill NodeName, Role, JoinToken and Tags, and call Validate.
type Config struct {
	// NodeName is the member's unique name in the gossip (the server's
	// raft ID, or the node's name).
	NodeName string
	Role     Role
	// BindAddr is the host:port to listen on for gossip (TCP and UDP);
	// port 0 lets the kernel pick one (see Membership.Addr).
	BindAddr string
	// AdvertiseAddr is the host:port others should use to reach this
	// member; empty means the bound address (if it is not a wildcard).
	AdvertiseAddr string
	// Tags are advertised to every member; TagRole is added from Role and
	// must not be set here. Serf limits all tags together to 512 bytes.
	Tags map[string]string
	// JoinToken is the cluster's join token; the gossip key is derived from
	// it (DeriveGossipKey). Members with another token cannot join.
	JoinToken string
	// Join lists gossip addresses (host:port) to join at Start.
	Join []string
	// RetryJoinInterval, if positive, makes Start keep retrying Join in the
	// background at this interval until it succeeds (the way servers that
	// boot together find each other). If zero, Start fails when the
	// initial Join fails.
	RetryJoinInterval time.Duration
	// SnapshotPath, if set, is a file where Serf keeps the members it knew
	// so a restarted process can rejoin them.
	SnapshotPath string
	// EventBuffer is the capacity of the Events channel; events that do
	// not fit are dropped and counted (Membership.Dropped).
	EventBuffer int
	// Logger receives Serf and memberlist logs; nil discards them.
	Logger *slog.Logger

	Timings Timings
}

// DefaultConfig returns LAN timings suited to the lab's VMs: a silent
// member is declared failed in about 2-4 s, so a lost node can be marked
// NotReady within the 5 s goal.
func DefaultConfig() Config {
	return Config{
		BindAddr:          "0.0.0.0:7946",
		RetryJoinInterval: 2 * time.Second,
		EventBuffer:       1024,
		Timings: Timings{
			ProbeInterval:           500 * time.Millisecond,
			ProbeTimeout:            250 * time.Millisecond,
			SuspicionMult:           3,
			SuspicionMaxTimeoutMult: 2,
			GossipInterval:          100 * time.Millisecond,
			GossipNodes:             3,
			GossipToTheDeadTime:     15 * time.Second,
			PushPullInterval:        15 * time.Second,
			TCPTimeout:              2 * time.Second,
			ReapInterval:            15 * time.Second,
			ReconnectInterval:       10 * time.Second,
			ReconnectTimeout:        72 * time.Hour,
			TombstoneTimeout:        24 * time.Hour,
			BroadcastTimeout:        5 * time.Second,
			LeavePropagateDelay:     time.Second,
		},
	}
}

// FastConfig is DefaultConfig with timings for in-process tests on
// loopback: failure is detected in well under a second.
func FastConfig() Config {
	c := DefaultConfig()
	c.BindAddr = "127.0.0.1:0"
	c.RetryJoinInterval = 0
	c.Timings = Timings{
		ProbeInterval:           100 * time.Millisecond,
		ProbeTimeout:            80 * time.Millisecond,
		SuspicionMult:           2,
		SuspicionMaxTimeoutMult: 2,
		GossipInterval:          20 * time.Millisecond,
		GossipNodes:             3,
		GossipToTheDeadTime:     2 * time.Second,
		PushPullInterval:        2 * time.Second,
		TCPTimeout:              time.Second,
		ReapInterval:            time.Second,
		ReconnectInterval:       500 * time.Millisecond,
		ReconnectTimeout:        time.Minute,
		TombstoneTimeout:        time.Minute,
		BroadcastTimeout:        2 * time.Second,
		LeavePropagateDelay:     100 * time.Millisecond,
	}
	return c
}

// maxNodeName is Serf's limit on node names.
const maxNodeName = 128

// Validate reports the first problem with c.
func (c Config) Validate() error {
	if c.NodeName == "" {
		return errors.New("membership: config: NodeName is empty")
	}
	if len(c.NodeName) > maxNodeName {
		return fmt.Errorf("membership: config: NodeName %q longer than %d bytes", c.NodeName, maxNodeName)
	}
	if !c.Role.Valid() {
		return fmt.Errorf("membership: config: Role %q is neither %q nor %q", c.Role, RoleServer, RoleNode)
	}
	if host, _, err := splitHostPort(c.BindAddr); err != nil {
		return fmt.Errorf("membership: config: BindAddr %q: %w", c.BindAddr, err)
	} else if net.ParseIP(host) == nil {
		return fmt.Errorf("membership: config: BindAddr %q: host must be an IP address", c.BindAddr)
	}
	if c.AdvertiseAddr != "" {
		host, port, err := splitHostPort(c.AdvertiseAddr)
		if err != nil {
			return fmt.Errorf("membership: config: AdvertiseAddr %q: %w", c.AdvertiseAddr, err)
		}
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() || port == 0 {
			return fmt.Errorf("membership: config: AdvertiseAddr %q must be a concrete IP and port", c.AdvertiseAddr)
		}
	}
	if c.JoinToken == "" {
		return fmt.Errorf("membership: config: %w", ErrNoJoinToken)
	}
	if _, ok := c.Tags[TagRole]; ok {
		return fmt.Errorf("membership: config: tag %q is set from Role, not Tags", TagRole)
	}
	for _, a := range c.Join {
		if _, _, err := splitHostPort(a); err != nil {
			return fmt.Errorf("membership: config: Join address %q: %w", a, err)
		}
	}
	if c.RetryJoinInterval < 0 {
		return fmt.Errorf("membership: config: RetryJoinInterval %v is negative", c.RetryJoinInterval)
	}
	if c.EventBuffer < 1 {
		return fmt.Errorf("membership: config: EventBuffer %d must be at least 1", c.EventBuffer)
	}
	t := c.Timings
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ProbeInterval", t.ProbeInterval}, {"ProbeTimeout", t.ProbeTimeout},
		{"GossipInterval", t.GossipInterval}, {"GossipToTheDeadTime", t.GossipToTheDeadTime},
		{"PushPullInterval", t.PushPullInterval}, {"TCPTimeout", t.TCPTimeout},
		{"ReapInterval", t.ReapInterval}, {"ReconnectInterval", t.ReconnectInterval},
		{"ReconnectTimeout", t.ReconnectTimeout}, {"TombstoneTimeout", t.TombstoneTimeout},
		{"BroadcastTimeout", t.BroadcastTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("membership: config: Timings.%s %v must be positive", d.name, d.v)
		}
	}
	if t.LeavePropagateDelay < 0 {
		return fmt.Errorf("membership: config: Timings.LeavePropagateDelay %v is negative", t.LeavePropagateDelay)
	}
	if t.ProbeTimeout > t.ProbeInterval {
		return fmt.Errorf("membership: config: Timings.ProbeTimeout %v exceeds ProbeInterval %v", t.ProbeTimeout, t.ProbeInterval)
	}
	if t.SuspicionMult < 1 || t.SuspicionMaxTimeoutMult < 1 || t.GossipNodes < 1 {
		return errors.New("membership: config: Timings.SuspicionMult, SuspicionMaxTimeoutMult and GossipNodes must be at least 1")
	}
	return nil
}

// splitHostPort splits host:port and parses the port.
func splitHostPort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}
