package lab

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/tools/lab/innetns"
)

// netnsDir is where named network namespaces are bind-mounted (as ip netns does).
const netnsDir = innetns.Dir

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// isNotFound says whether a netlink error means the object is gone.
func isNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT)
}

// checkFree fails if the names or subnet the plan needs are taken in the
// root namespace, before the lab creates anything.
func checkFree(s State) error {
	if _, err := netlink.LinkByName(s.Bridge); err == nil {
		return fmt.Errorf("lab: interface %s already exists", s.Bridge)
	}
	for _, vm := range s.VMs {
		if _, err := netlink.LinkByName(vm.HostVeth); err == nil {
			return fmt.Errorf("lab: interface %s already exists", vm.HostVeth)
		}
		if _, err := os.Lstat(vm.NetnsPath()); err == nil {
			return fmt.Errorf("lab: network namespace %s already exists", vm.NetnsPath())
		}
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("lab: listing routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Type != unix.RTN_UNICAST {
			continue
		}
		p, ok := prefixOf(r.Dst)
		if ok && p.Bits() > 0 && p.Overlaps(s.Config.Subnet) {
			return fmt.Errorf("lab: subnet %v overlaps the route to %v in the root namespace", s.Config.Subnet, p)
		}
	}
	return nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// createBridge adds the bridge with the host's lab address and sets it up.
// created reports whether the link was made (so Down removes it).
func createBridge(name string, addr netip.Prefix) (created bool, err error) {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		return false, fmt.Errorf("lab: adding bridge %s: %w", name, err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return true, fmt.Errorf("lab: finding bridge %s: %w", name, err)
	}
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
		return true, fmt.Errorf("lab: adding %v to bridge %s: %w", addr, name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return true, fmt.Errorf("lab: setting bridge %s up: %w", name, err)
	}
	return true, nil
}

// deleteLink removes the named link if it exists and has the given type.
func deleteLink(name, typ string) error {
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lab: finding %s: %w", name, err)
	}
	if link.Type() != typ {
		return fmt.Errorf("lab: %s is a %s, not the %s the lab made; leaving it", name, link.Type(), typ)
	}
	if err := netlink.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("lab: deleting %s %s: %w", typ, name, err)
	}
	return nil
}

// BlackholeMetric is the metric of a lab's unreachable routes: one per lab name, so labs
// that run at once (tests do) each add and remove their own route to the same ranges and never
// take away another's containment.
func BlackholeMetric(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return 1000 + int(h.Sum32()%60000)
}

// unreachableRoute is the root-namespace route that keeps p from leaking out.
func unreachableRoute(p netip.Prefix, metric int) *netlink.Route {
	return &netlink.Route{Dst: ipNet(p), Type: unix.RTN_UNREACHABLE, Table: unix.RT_TABLE_MAIN, Priority: metric}
}

// addUnreachable adds this lab's unreachable route for p unless it exists already, or a route
// to exactly p that is not another lab's unreachable one (someone's real route) does;
// added reports whether the lab made it.
func addUnreachable(p netip.Prefix, metric int) (added bool, err error) {
	existing, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: ipNet(p), Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return false, fmt.Errorf("lab: listing routes to %v: %w", p, err)
	}
	for _, r := range existing {
		if r.Type != unix.RTN_UNREACHABLE || r.Priority == metric {
			return false, nil
		}
	}
	if err := netlink.RouteAdd(unreachableRoute(p, metric)); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return false, nil
		}
		return false, fmt.Errorf("lab: adding unreachable route %v: %w", p, err)
	}
	return true, nil
}

// deleteUnreachable removes this lab's unreachable route for p, if it is there.
func deleteUnreachable(p netip.Prefix, metric int) error {
	err := netlink.RouteDel(unreachableRoute(p, metric))
	if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("lab: deleting unreachable route %v: %w", p, err)
	}
	return nil
}

// nsIno returns the nsfs inode of the namespace file at path.
func nsIno(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// createNetns makes the named network namespace and returns its inode.
func createNetns(name string) (uint64, error) {
	path, err := innetns.NewNamed(name)
	if err != nil {
		return 0, fmt.Errorf("lab: %w", err)
	}
	ino, err := nsIno(path)
	if err != nil {
		return 0, fmt.Errorf("lab: reading network namespace %s: %w", path, err)
	}
	return ino, nil
}

// deleteNetns unmounts and removes the named namespace if it is still the
// one the lab made (inode ino).
func deleteNetns(vm VM) error {
	path := vm.NetnsPath()
	ino, err := nsIno(path)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lab: checking %s: %w", path, err)
	}
	if vm.NetnsIno != 0 && ino != vm.NetnsIno {
		// An unmounted leftover file has the tmpfs inode: remove only that.
		if isMountPoint(path) {
			return fmt.Errorf("lab: %s is not the namespace the lab made; leaving it", path)
		}
	}
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("lab: unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab: removing %s: %w", path, err)
	}
	return nil
}

// isMountPoint says whether path is a mount point in our mount namespace.
func isMountPoint(path string) bool {
	mounts, err := mountPoints()
	if err != nil {
		return true // when unsure, treat it as mounted and leave it
	}
	for _, m := range mounts {
		if m == path {
			return true
		}
	}
	return false
}

// createVeth makes vm's veth pair: HostVeth on the bridge in the root
// namespace, eth0 in the VM with its address, both up, and lo up.
func createVeth(vm VM, bridge string) error {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("lab: finding bridge %s: %w", bridge, err)
	}
	ns, err := netns.GetFromPath(vm.NetnsPath())
	if err != nil {
		return fmt.Errorf("lab: opening %s: %w", vm.NetnsPath(), err)
	}
	defer ns.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: vm.HostVeth, MasterIndex: br.Attrs().Index},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("lab: adding veth %s (eth0 in %s): %w", vm.HostVeth, vm.Netns, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("lab: netlink in %s: %w", vm.Netns, err)
	}
	defer h.Close()
	for _, name := range []string{"lo", "eth0"} {
		link, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("lab: finding %s in %s: %w", name, vm.Netns, err)
		}
		if name == "eth0" {
			if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(vm.Addr)}); err != nil {
				return fmt.Errorf("lab: adding %v to eth0 in %s: %w", vm.Addr, vm.Netns, err)
			}
		}
		if err := h.LinkSetUp(link); err != nil {
			return fmt.Errorf("lab: setting %s up in %s: %w", name, vm.Netns, err)
		}
		if name == "eth0" {
			// A VM's own connections to a ClusterIP need a route before the
			// proxy's output chain rewrites them (a real VM's default route
			// covers it); on-link, so nothing unrewritten goes further than
			// the bridge, where nothing answers for the range.
			svc := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(DefaultServiceCIDR), Scope: netlink.SCOPE_LINK}
			if err := h.RouteReplace(svc); err != nil {
				return fmt.Errorf("lab: route %v in %s: %w", DefaultServiceCIDR, vm.Netns, err)
			}
		}
	}
	host, err := netlink.LinkByName(vm.HostVeth)
	if err != nil {
		return fmt.Errorf("lab: finding %s: %w", vm.HostVeth, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("lab: setting %s up: %w", vm.HostVeth, err)
	}
	return nil
}

// vmSysctls are set inside every VM: it routes for its pods, and checks
// sources loosely (pod traffic is asymmetric).
var vmSysctls = []struct{ key, value string }{
	{"net/ipv4/ip_forward", "1"},
	{"net/ipv4/conf/all/rp_filter", "2"},
	{"net/ipv4/conf/default/rp_filter", "2"},
	{"net/ipv4/conf/eth0/rp_filter", "2"},
}

// setVMSysctls writes vmSysctls inside vm's namespace (/proc/sys/net is
// per namespace, seen from the writing thread).
func setVMSysctls(vm VM) error {
	return innetns.Do(vm.NetnsPath(), func() error {
		for _, s := range vmSysctls {
			p := filepath.Join("/proc/sys", s.key)
			if err := os.WriteFile(p, []byte(s.value), 0o644); err != nil {
				return fmt.Errorf("lab: setting %s=%s in %s: %w", s.key, s.value, vm.Netns, err)
			}
		}
		return nil
	})
}

// readSysctl reads a sysctl inside vm's namespace.
func readSysctl(vm VM, key string) (string, error) {
	var v string
	err := innetns.Do(vm.NetnsPath(), func() error {
		b, err := os.ReadFile(filepath.Join("/proc/sys", key))
		v = string(b)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("lab: reading %s in %s: %w", key, vm.Netns, err)
	}
	return string(trimNL([]byte(v))), nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
