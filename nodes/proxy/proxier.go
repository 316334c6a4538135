package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/bits"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Config configures a Proxier. Start from DefaultConfig.
type Config struct {
	// NetnsPath is the network namespace whose table `ip skiff` the proxier owns: a netns
	// file such as /run/netns/NAME or /proc/PID/ns/net. "" means the process's own.
	NetnsPath string
	// MasqueradeMark is the packet mark bit that asks for masquerading (kube-proxy's 0x4000).
	MasqueradeMark uint32
}

// DefaultConfig is the configuration of a node's proxier in its own network namespace.
func DefaultConfig() Config {
	return Config{MasqueradeMark: 0x4000}
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if bits.OnesCount32(c.MasqueradeMark) != 1 {
		return fmt.Errorf("proxy: masquerade mark %#x: must be a single bit", c.MasqueradeMark)
	}
	return nil
}

// SyncStats describes one Sync.
type SyncStats struct {
	// Full is true when the table was rebuilt rather than updated.
	Full bool
	// ServicePorts is the number of service ports programmed; Changed how many of them were
	// written (all of them on a full sync, including removed ones otherwise); Skipped how many
	// ports or endpoints could not be programmed (logged).
	ServicePorts, Changed, Skipped int
	// TxStats counts what the main transaction wrote.
	TxStats
	// StaleChainsDeleted counts chains of removed service ports or endpoints deleted in the
	// follow-up transaction.
	StaleChainsDeleted int
	// ConntrackDeleted counts UDP conntrack entries deleted towards removed endpoints.
	ConntrackDeleted int
	Duration         time.Duration
}

// Proxier keeps the table `ip skiff` of one network namespace equal to the desired services.
// It is safe for concurrent use; syncs are serialised.
type Proxier struct {
	cfg  Config
	log  *slog.Logger
	app  applier
	ct   conntracker
	nsFD *os.File

	mu       sync.Mutex
	applied  map[string]*unit // as last written successfully; nil: unknown, sync fully
	needFull bool
	stale    map[string]string // flushed chains still to delete, to the key of their unit
}

// New returns a proxier for cfg. It opens the network namespace but does not change anything
// until the first Sync.
func New(cfg Config, logger *slog.Logger) (*Proxier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var f *os.File
	fd := 0
	if cfg.NetnsPath != "" {
		var err error
		if f, err = os.Open(cfg.NetnsPath); err != nil {
			return nil, fmt.Errorf("proxy: opening network namespace %s: %w", cfg.NetnsPath, err)
		}
		var st unix.Statfs_t
		if err := unix.Fstatfs(int(f.Fd()), &st); err != nil || st.Type != unix.NSFS_MAGIC {
			f.Close()
			return nil, fmt.Errorf("proxy: %s is not a network namespace file", cfg.NetnsPath)
		}
		fd = int(f.Fd())
	}
	p := newProxier(cfg, &nftApplier{netnsFD: fd}, &netlinkConntrack{netnsFD: fd}, logger)
	p.nsFD = f
	return p, nil
}

func newProxier(cfg Config, app applier, ct conntracker, logger *slog.Logger) *Proxier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Proxier{cfg: cfg, log: logger, app: app, ct: ct, needFull: true, stale: map[string]string{}}
}

// Sync makes the table program exactly svcs. The first Sync, and the first after an error or
// Cleanup, rebuilds the table in one transaction; later ones rewrite, in one transaction, only
// the service ports that changed, then delete the chains nothing refers to any more. UDP
// conntrack entries towards removed endpoints are deleted after the rules changed.
func (p *Proxier) Sync(ctx context.Context, svcs []Service) (SyncStats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	us, probs := units(svcs)
	st := SyncStats{ServicePorts: len(us), Skipped: len(probs)}
	for i, pr := range probs {
		if i == 10 {
			p.log.Warn("proxy: more service ports skipped", "count", len(probs)-i)
			break
		}
		p.log.Warn("proxy: skipping", "service", pr.what, "reason", pr.why)
	}

	var t *transaction
	var stale map[string]string
	if p.needFull || p.applied == nil {
		st.Full, st.Changed = true, len(us)
		t = fullTx(us, p.cfg.MasqueradeMark)
	} else {
		t, stale, st.Changed = incrementalTx(p.applied, us)
	}
	st.TxStats = t.stats()
	if err := p.app.apply(ctx, t); err != nil {
		p.needFull = true
		st.Duration = time.Since(start)
		return st, fmt.Errorf("proxy: syncing %d service ports (full=%t): %w", len(us), st.Full, err)
	}
	old := p.applied
	p.applied = make(map[string]*unit, len(us))
	for _, u := range us {
		p.applied[u.key] = u
	}
	p.needFull = false
	if st.Full {
		clear(p.stale)
	}
	maps.Copy(p.stale, stale)
	if len(p.stale) > 0 {
		st.StaleChainsDeleted = p.deleteStale(ctx)
	}

	if old != nil {
		if flows := staleUDPFlows(old, us); len(flows) > 0 && p.ct != nil {
			n, err := p.ct.deleteUDP(ctx, flows)
			st.ConntrackDeleted = n
			if err != nil {
				p.log.Warn("proxy: deleting stale UDP conntrack entries", "err", err)
			}
		}
	}
	st.Duration = time.Since(start)
	p.log.Debug("proxy: synced", "full", st.Full, "servicePorts", st.ServicePorts, "changed", st.Changed,
		"objects", st.Objects(), "duration", st.Duration)
	return st, nil
}

// deleteStale deletes the stale chains no unit uses again, in one transaction, and returns how
// many it deleted. A chain comes back only with its own unit, so only those are checked.
func (p *Proxier) deleteStale(ctx context.Context) int {
	live := map[string]bool{}
	checked := map[string]bool{}
	var names []string
	for c, key := range p.stale {
		if u := p.applied[key]; u != nil && !checked[key] {
			checked[key] = true
			cs, _ := u.objects()
			for _, c := range cs {
				live[c.name] = true
			}
		}
		if !live[c] {
			names = append(names, c)
		}
	}
	slices.Sort(names)
	if err := p.app.apply(ctx, deleteChainsTx(names)); err != nil {
		// They are empty and harmless; try again next time.
		p.log.Info("proxy: deleting stale chains failed, will retry", "chains", len(names), "err", err)
		return 0
	}
	clear(p.stale)
	return len(names)
}

// Cleanup deletes the table `ip skiff`, and nothing else; the next Sync rebuilds it.
func (p *Proxier) Cleanup(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applied, p.needFull = nil, true
	clear(p.stale)
	if err := p.app.deleteTable(ctx); err != nil {
		return fmt.Errorf("proxy: cleanup: %w", err)
	}
	return nil
}

// Close releases the proxier's netlink socket and network namespace; it leaves the table as
// it is.
func (p *Proxier) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.app.close()
	if p.nsFD != nil {
		if cerr := p.nsFD.Close(); cerr != nil && !errors.Is(cerr, os.ErrClosed) {
			err = errors.Join(err, cerr)
		}
		p.nsFD = nil
	}
	if err != nil {
		return fmt.Errorf("proxy: close: %w", err)
	}
	return nil
}

// FullScript is the `nft -f` script equivalent to the transaction a full Sync of svcs writes.
func FullScript(cfg Config, svcs []Service) string {
	us, _ := units(svcs)
	return fullTx(us, cfg.MasqueradeMark).script()
}

// IncrementalScript is the `nft -f` script equivalent to the transaction a Sync of to writes
// after a Sync of from (without the follow-up deletion of stale chains).
func IncrementalScript(from, to []Service) string {
	old, _ := units(from)
	byKey := make(map[string]*unit, len(old))
	for _, u := range old {
		byKey[u.key] = u
	}
	cur, _ := units(to)
	t, _, _ := incrementalTx(byKey, cur)
	return t.script()
}
