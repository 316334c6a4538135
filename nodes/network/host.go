package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// EnsureHost prepares the host namespace for pod traffic: IP forwarding on, and loose reverse
// path filtering (2) for all and default interfaces, since host-gw traffic can be asymmetric.
// It writes only values that differ.
func (m *Manager) EnsureHost(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("network: preparing host: %w", err)
	}
	for _, s := range []struct{ key, val string }{
		{"net/ipv4/ip_forward", "1"},
		{"net/ipv4/conf/all/rp_filter", "2"},
		{"net/ipv4/conf/default/rp_filter", "2"},
	} {
		if err := m.hostSysctl(s.key, s.val); err != nil {
			return err
		}
	}
	for _, d := range []string{m.netnsDir(), m.ipam.Dir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("network: creating %q: %w", d, err)
		}
	}
	return nil
}

// hostSysctl sets /proc/sys/<key> to val in the host namespace, if it differs.
func (m *Manager) hostSysctl(key, val string) error {
	err := inNetns(m.hostNS, func() error {
		p := filepath.Join("/proc/sys", key)
		cur, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(cur)) == val {
			return nil
		}
		m.log.Info("setting host sysctl", "key", key, "from", strings.TrimSpace(string(cur)), "to", val)
		return os.WriteFile(p, []byte(val), 0o644)
	})
	if err != nil {
		return fmt.Errorf("network: setting sysctl %s=%s in host netns: %w", key, val, err)
	}
	return nil
}

// uplinkMTU returns the MTU for pod links (see Config.MTU).
func (m *Manager) uplinkMTU() (int, error) {
	if m.cfg.MTU > 0 {
		return m.cfg.MTU, nil
	}
	if m.cfg.NodeIP.IsValid() {
		addrs, err := retryDump(func() ([]netlink.Addr, error) { return m.host.AddrList(nil, unix.AF_INET) })
		if err != nil {
			return 0, fmt.Errorf("network: listing host addresses for NodeIP %v: %w", m.cfg.NodeIP, err)
		}
		for _, a := range addrs {
			if ip, ok := addrOf(a.IP); ok && ip == m.cfg.NodeIP {
				l, err := m.host.LinkByIndex(a.LinkIndex)
				if err != nil {
					return 0, fmt.Errorf("network: reading link of NodeIP %v: %w", m.cfg.NodeIP, err)
				}
				return l.Attrs().MTU, nil
			}
		}
		m.log.Warn("NodeIP is on no host link; taking the MTU from the default route", "nodeIP", m.cfg.NodeIP)
	}
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return m.host.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return 0, fmt.Errorf("network: listing host default routes: %w", err)
	}
	for _, r := range routes {
		idx := r.LinkIndex
		if idx == 0 && len(r.MultiPath) > 0 {
			idx = r.MultiPath[0].LinkIndex
		}
		if idx == 0 {
			continue
		}
		l, err := m.host.LinkByIndex(idx)
		if err != nil {
			return 0, fmt.Errorf("network: reading link of default route: %w", err)
		}
		return l.Attrs().MTU, nil
	}
	return 1500, nil
}

// retryDump repeats a netlink dump the kernel reports as interrupted (changed while dumping).
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var err error
	for range 5 {
		var out []T
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}
