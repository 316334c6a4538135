package network

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/nodes/network/ipam"
)

// Attachment is a pod's place on the node network.
type Attachment struct {
	PodUID    string
	NetnsPath string     // bind-mounted network namespace, for runc's "path"
	IP        netip.Addr // the pod's address, on eth0 as IP/32
	Gateway   netip.Addr // the pod's default gateway, held by the host veth
	HostVeth  string     // the pair's end in the host namespace
	MTU       int
}

// Manager wires pods into the node network. Its methods are safe for concurrent use; they
// run one at a time.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	ipam   *ipam.Store
	hostNS netns.NsHandle
	host   *netlink.Handle
	mtu    int

	mu sync.Mutex
}

// New opens the node network state in cfg.StateDir and binds to the host namespace. It
// creates nothing in the kernel; call EnsureHost, then Setup per pod. Close releases it.
func New(cfg Config, logger *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	store, err := ipam.Open(filepath.Join(cfg.StateDir, "ipam"), cfg.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("network: opening IPAM state: %w", err)
	}
	nsPath := cfg.HostNetns
	if nsPath == "" {
		nsPath = "/proc/self/ns/net"
	}
	hostNS, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("network: opening host netns %q: %w", nsPath, err)
	}
	h, err := netlink.NewHandleAt(hostNS, unix.NETLINK_ROUTE)
	if err != nil {
		hostNS.Close()
		return nil, fmt.Errorf("network: opening netlink in host netns %q: %w", nsPath, err)
	}
	m := &Manager{cfg: cfg, log: logger.With("podCIDR", cfg.PodCIDR.String()), ipam: store, hostNS: hostNS, host: h}
	if m.mtu, err = m.uplinkMTU(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close releases the manager's handles; it changes nothing on the node.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.host != nil {
		m.host.Close()
		m.host = nil
	}
	if m.hostNS.IsOpen() {
		if err := m.hostNS.Close(); err != nil {
			return fmt.Errorf("network: closing host netns: %w", err)
		}
		m.hostNS = netns.None()
	}
	return nil
}

// MTU returns the MTU new pod links get.
func (m *Manager) MTU() int { return m.mtu }

// Gateway returns the pods' gateway: the pod CIDR's first usable address.
func (m *Manager) Gateway() netip.Addr { return m.ipam.Gateway() }

var podUIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

func checkPodUID(uid string) error {
	if !podUIDRe.MatchString(uid) {
		return fmt.Errorf("network: invalid pod UID %q", uid)
	}
	return nil
}

func (m *Manager) netnsDir() string            { return filepath.Join(m.cfg.StateDir, "netns") }
func (m *Manager) netnsPath(uid string) string { return filepath.Join(m.netnsDir(), uid) }

// Setup attaches the pod to the node network and returns where. It is idempotent: for a pod
// that is attached it returns the same attachment and changes nothing; for one left half done
// (a crash, a failed call, a deleted link) it completes what is missing.
func (m *Manager) Setup(ctx context.Context, podUID string) (Attachment, error) {
	if err := checkPodUID(podUID); err != nil {
		return Attachment{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ip, err := m.ipam.Allocate(ctx, podUID)
	if err != nil {
		return Attachment{}, fmt.Errorf("network: setting up pod %s: %w", podUID, err)
	}
	if err := ctx.Err(); err != nil {
		return Attachment{}, fmt.Errorf("network: setting up pod %s: %w", podUID, err)
	}
	path := m.netnsPath(podUID)
	if err := createNetns(path); err != nil {
		return Attachment{}, err
	}
	podNS, err := netns.GetFromPath(path)
	if err != nil {
		return Attachment{}, fmt.Errorf("network: opening netns of pod %s: %w", podUID, err)
	}
	defer podNS.Close()
	ph, err := netlink.NewHandleAt(podNS, unix.NETLINK_ROUTE)
	if err != nil {
		return Attachment{}, fmt.Errorf("network: opening netlink in netns of pod %s: %w", podUID, err)
	}
	defer ph.Close()
	if err := ctx.Err(); err != nil {
		return Attachment{}, fmt.Errorf("network: setting up pod %s: %w", podUID, err)
	}
	hostLink, podLink, err := m.ensureVeth(podUID, podNS, ph, m.mtu)
	if err != nil {
		return Attachment{}, err
	}
	gw := m.ipam.Gateway()
	if err := m.configurePod(podUID, ph, podLink, ip, gw, m.mtu); err != nil {
		return Attachment{}, err
	}
	if err := m.configureHost(podUID, hostLink, ip, gw, m.mtu); err != nil {
		return Attachment{}, err
	}
	return Attachment{PodUID: podUID, NetnsPath: path, IP: ip, Gateway: gw, HostVeth: hostLink.Attrs().Name, MTU: m.mtu}, nil
}

// Teardown detaches the pod: deletes its veth pair, unmounts and removes its namespace, and
// frees its address, in that order, so a failure leaves the address reserved for a retry.
// Tearing down a pod that is not attached is not an error.
func (m *Manager) Teardown(ctx context.Context, podUID string) error {
	if err := checkPodUID(podUID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.teardown(ctx, podUID)
}

func (m *Manager) teardown(ctx context.Context, podUID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("network: tearing down pod %s: %w", podUID, err)
	}
	l, err := m.hostVeth(podUID)
	if err != nil {
		return err
	}
	if l != nil {
		if err := m.host.LinkDel(l); err != nil && !isNotFound(err) {
			return fmt.Errorf("network: deleting host veth %s of pod %s: %w", l.Attrs().Name, podUID, err)
		}
	}
	if err := removeNetns(m.netnsPath(podUID)); err != nil {
		return err
	}
	if _, err := m.ipam.Release(ctx, podUID); err != nil {
		return fmt.Errorf("network: tearing down pod %s: %w", podUID, err)
	}
	m.log.Debug("pod detached", "pod", podUID)
	return nil
}

// List returns the attachments found on disk whose namespace mount and host veth exist, as a
// restarted daemon adopts them, ordered by address. Incomplete ones are logged and left out;
// Setup completes them and GC removes them.
func (m *Manager) List(ctx context.Context) ([]Attachment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	allocs, err := m.ipam.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("network: listing attachments: %w", err)
	}
	var out []Attachment
	for _, a := range allocs {
		if a.Owner == "" || checkPodUID(a.Owner) != nil {
			m.log.Warn("damaged address reservation", "ip", a.Addr, "owner", a.Owner)
			continue
		}
		path := m.netnsPath(a.Owner)
		mounted, err := isNetnsMount(path)
		if err != nil {
			return nil, err
		}
		l, err := m.hostVeth(a.Owner)
		if err != nil {
			return nil, err
		}
		if !mounted || l == nil {
			m.log.Warn("incomplete attachment", "pod", a.Owner, "ip", a.Addr, "netnsMounted", mounted, "hostVeth", l != nil)
			continue
		}
		out = append(out, Attachment{PodUID: a.Owner, NetnsPath: path, IP: a.Addr, Gateway: m.ipam.Gateway(), HostVeth: l.Attrs().Name, MTU: l.Attrs().MTU})
	}
	return out, nil
}

// GC tears down every pod the node holds anything of (an address, a namespace mount, a host
// veth) that live reports as not live, frees damaged address reservations, and returns the
// pod UIDs it tore down, sorted.
func (m *Manager) GC(ctx context.Context, live func(podUID string) bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gc(ctx, live)
}

func (m *Manager) gc(ctx context.Context, live func(podUID string) bool) ([]string, error) {
	known, err := m.knownPods(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, uid := range known {
		if live(uid) {
			continue
		}
		if err := m.teardown(ctx, uid); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, uid)
	}
	damaged, err := m.ipam.GC(ctx, func(string) bool { return true }) // only damaged ones
	if err != nil {
		errs = append(errs, fmt.Errorf("network: freeing damaged reservations: %w", err))
	}
	for _, d := range damaged {
		m.log.Warn("freed damaged address reservation", "ip", d.Addr)
	}
	if len(removed) > 0 {
		m.log.Info("garbage-collected pod attachments", "pods", removed)
	}
	return removed, errors.Join(errs...)
}

// knownPods returns the sorted UIDs of every pod with an address, a namespace file or a
// marked host veth.
func (m *Manager) knownPods(ctx context.Context) ([]string, error) {
	set := map[string]bool{}
	allocs, err := m.ipam.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("network: listing addresses: %w", err)
	}
	for _, a := range allocs {
		if checkPodUID(a.Owner) == nil {
			set[a.Owner] = true
		}
	}
	ents, err := os.ReadDir(m.netnsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("network: listing %q: %w", m.netnsDir(), err)
	}
	for _, e := range ents {
		if checkPodUID(e.Name()) == nil {
			set[e.Name()] = true
		}
	}
	links, err := retryDump(m.host.LinkList)
	if err != nil {
		return nil, fmt.Errorf("network: listing host links: %w", err)
	}
	for _, l := range links {
		if uid, ok := podUIDFromAlias(l.Attrs().Alias); ok && l.Type() == "veth" && l.Attrs().Name == HostVethName(uid) && checkPodUID(uid) == nil {
			set[uid] = true
		}
	}
	out := make([]string, 0, len(set))
	for uid := range set {
		out = append(out, uid)
	}
	slices.Sort(out)
	return out, nil
}

// RemoveAll removes everything the manager made on the node: every pod's veth, namespace and
// address, the routes SyncRoutes added, and the state directories. Host sysctls are left as
// they are. The manager stays usable.
func (m *Manager) RemoveAll(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	if _, err := m.gc(ctx, func(string) bool { return false }); err != nil {
		errs = append(errs, err)
	}
	if err := m.syncRoutes(ctx, nil); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.Remove(m.netnsDir()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("network: removing %q: %w", m.netnsDir(), err))
		}
		if err := m.ipam.RemoveAll(ctx); err != nil {
			errs = append(errs, fmt.Errorf("network: removing IPAM state: %w", err))
		}
	}
	return errors.Join(errs...)
}
