package network

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// PodInterface is the name of the pod's end of its veth pair, inside the pod namespace.
const PodInterface = "eth0"

// vethAliasPrefix starts the alias (IFLA_IFALIAS) of every host veth this package creates; the
// pod UID follows. It marks the link as Skiff's and names its pod for GC.
const vethAliasPrefix = "skiff-pod:"

// HostVethName returns the name of a pod's veth end in the host namespace: "sk" and 13 hex
// digits of the SHA-256 of the pod UID (15 characters, the kernel's limit).
func HostVethName(podUID string) string {
	sum := sha256.Sum256([]byte(podUID))
	return "sk" + hex.EncodeToString(sum[:])[:13]
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// hostVeth returns the pod's host veth, or nil if there is none. A link of that name that
// Skiff did not create is an error.
func (m *Manager) hostVeth(podUID string) (netlink.Link, error) {
	name := HostVethName(podUID)
	l, err := m.host.LinkByName(name)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("network: looking up host veth %s of pod %s: %w", name, podUID, err)
	}
	if _, ok := l.(*netlink.Veth); !ok {
		return nil, fmt.Errorf("network: host link %s of pod %s is a %s, not a veth Skiff made", name, podUID, l.Type())
	}
	if a := l.Attrs().Alias; a != "" && a != vethAliasPrefix+podUID {
		return nil, fmt.Errorf("network: host veth %s has alias %q, not Skiff's for pod %s", name, a, podUID)
	}
	return l, nil
}

// ensureVeth makes sure the pod's veth pair exists with eth0 in podNS and returns both ends.
// A pair that is broken (one end missing, or ends not peers) is deleted and made anew.
func (m *Manager) ensureVeth(podUID string, podNS netns.NsHandle, ph *netlink.Handle, mtu int) (host, pod netlink.Link, err error) {
	name := HostVethName(podUID)
	host, err = m.hostVeth(podUID)
	if err != nil {
		return nil, nil, err
	}
	pod, err = ph.LinkByName(PodInterface)
	if isNotFound(err) {
		pod, err = nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("network: looking up %s of pod %s: %w", PodInterface, podUID, err)
	}
	if host != nil && pod != nil && pod.Type() == "veth" &&
		pod.Attrs().ParentIndex == host.Attrs().Index && host.Attrs().ParentIndex == pod.Attrs().Index {
		if host.Attrs().Alias != vethAliasPrefix+podUID {
			if err := m.host.LinkSetAlias(host, vethAliasPrefix+podUID); err != nil {
				return nil, nil, fmt.Errorf("network: marking host veth %s of pod %s: %w", name, podUID, err)
			}
		}
		return host, pod, nil
	}
	if host != nil {
		m.log.Warn("deleting unpaired host veth", "pod", podUID, "veth", name)
		if err := m.host.LinkDel(host); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("network: deleting unpaired host veth %s of pod %s: %w", name, podUID, err)
		}
	}
	if pod != nil {
		m.log.Warn("deleting unpaired pod link", "pod", podUID, "link", PodInterface)
		if err := ph.LinkDel(pod); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("network: deleting unpaired %s of pod %s: %w", PodInterface, podUID, err)
		}
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: name, MTU: mtu},
		PeerName:      PodInterface,
		PeerNamespace: netlink.NsFd(podNS),
	}
	if err := m.host.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("network: creating veth %s/%s for pod %s: %w", name, PodInterface, podUID, err)
	}
	m.log.Debug("created veth", "pod", podUID, "veth", name)
	if host, err = m.host.LinkByName(name); err != nil {
		return nil, nil, fmt.Errorf("network: reading new host veth %s of pod %s: %w", name, podUID, err)
	}
	// The kernel ignores IFLA_IFALIAS when it creates a link, so the mark is a second step;
	// a pair left unmarked by a crash here is marked by the next Setup.
	if err := m.host.LinkSetAlias(host, vethAliasPrefix+podUID); err != nil {
		return nil, nil, fmt.Errorf("network: marking host veth %s of pod %s: %w", name, podUID, err)
	}
	if host, err = m.host.LinkByName(name); err != nil {
		return nil, nil, fmt.Errorf("network: reading new host veth %s of pod %s: %w", name, podUID, err)
	}
	if pod, err = ph.LinkByName(PodInterface); err != nil {
		return nil, nil, fmt.Errorf("network: reading new %s of pod %s: %w", PodInterface, podUID, err)
	}
	return host, pod, nil
}

// configurePod sets up the pod side: lo and eth0 up, ip/32 the only IPv4 address on eth0,
// "gw/32 scope link dev eth0" and "default via gw".
func (m *Manager) configurePod(podUID string, ph *netlink.Handle, pod netlink.Link, ip, gw netip.Addr, mtu int) error {
	lo, err := ph.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("network: looking up lo of pod %s: %w", podUID, err)
	}
	if err := ensureUp(ph, lo); err != nil {
		return fmt.Errorf("network: setting lo of pod %s up: %w", podUID, err)
	}
	if pod.Attrs().MTU != mtu {
		if err := ph.LinkSetMTU(pod, mtu); err != nil {
			return fmt.Errorf("network: setting MTU %d on %s of pod %s: %w", mtu, PodInterface, podUID, err)
		}
	}
	if err := ensureOnlyAddr(ph, pod, netip.PrefixFrom(ip, 32)); err != nil {
		return fmt.Errorf("network: addressing %s of pod %s with %v: %w", PodInterface, podUID, ip, err)
	}
	if err := ensureUp(ph, pod); err != nil {
		return fmt.Errorf("network: setting %s of pod %s up: %w", PodInterface, podUID, err)
	}
	idx := pod.Attrs().Index
	if err := ensureRoute(ph, &netlink.Route{LinkIndex: idx, Dst: ipNet(netip.PrefixFrom(gw, 32)), Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("network: adding gateway route %v in pod %s: %w", gw, podUID, err)
	}
	if err := ensureRoute(ph, &netlink.Route{LinkIndex: idx, Gw: gw.AsSlice(), Scope: netlink.SCOPE_UNIVERSE}); err != nil {
		return fmt.Errorf("network: adding default route via %v in pod %s: %w", gw, podUID, err)
	}
	return nil
}

// configureHost sets up the host side: loose rp_filter, gw/32 on the veth, veth up, and a /32
// route to the pod through it.
func (m *Manager) configureHost(podUID string, host netlink.Link, ip, gw netip.Addr, mtu int) error {
	name := host.Attrs().Name
	if err := m.hostSysctl("net/ipv4/conf/"+name+"/rp_filter", "2"); err != nil {
		return err
	}
	if host.Attrs().MTU != mtu {
		if err := m.host.LinkSetMTU(host, mtu); err != nil {
			return fmt.Errorf("network: setting MTU %d on host veth %s of pod %s: %w", mtu, name, podUID, err)
		}
	}
	if err := ensureOnlyAddr(m.host, host, netip.PrefixFrom(gw, 32)); err != nil {
		return fmt.Errorf("network: adding gateway %v to host veth %s of pod %s: %w", gw, name, podUID, err)
	}
	if err := ensureUp(m.host, host); err != nil {
		return fmt.Errorf("network: setting host veth %s of pod %s up: %w", name, podUID, err)
	}
	if err := ensureRoute(m.host, &netlink.Route{LinkIndex: host.Attrs().Index, Dst: ipNet(netip.PrefixFrom(ip, 32)), Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("network: adding host route to pod %s at %v via %s: %w", podUID, ip, name, err)
	}
	return nil
}

func ensureUp(h *netlink.Handle, l netlink.Link) error {
	if l.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	return h.LinkSetUp(l)
}

// ensureOnlyAddr makes want the only IPv4 address of l, touching nothing if it already is.
func ensureOnlyAddr(h *netlink.Handle, l netlink.Link, want netip.Prefix) error {
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(l, unix.AF_INET) })
	if err != nil {
		return err
	}
	have := false
	for _, a := range addrs {
		p, ok := prefixOf(a.IPNet)
		if ok && p == want {
			have = true
			continue
		}
		if err := h.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("deleting stale address %v: %w", a.IPNet, err)
		}
	}
	if have {
		return nil
	}
	return h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(want)})
}

// ensureRoute adds want to the main table unless a route with the same destination, link,
// gateway and scope is there already; a different route to the same destination is replaced.
func ensureRoute(h *netlink.Handle, want *netlink.Route) error {
	want.Table = unix.RT_TABLE_MAIN
	dst := defaultIfNil(want.Dst)
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(unix.AF_INET, &netlink.Route{Dst: dst, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return err
	}
	for _, r := range routes {
		if r.LinkIndex == want.LinkIndex && r.Gw.Equal(want.Gw) && r.Scope == want.Scope {
			return nil
		}
	}
	return h.RouteReplace(want)
}

func defaultIfNil(n *net.IPNet) *net.IPNet {
	if n != nil {
		return n
	}
	return &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func addrOf(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := addrOf(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}

// podUIDFromAlias returns the pod UID a host veth alias names, if it is Skiff's.
func podUIDFromAlias(alias string) (string, bool) {
	uid, ok := strings.CutPrefix(alias, vethAliasPrefix)
	if !ok || uid == "" {
		return "", false
	}
	return uid, true
}
