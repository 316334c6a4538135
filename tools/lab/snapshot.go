package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Resources lists what a lab could leave behind on the host, each list
// sorted, so two snapshots compare with Diff. Snapshot reads the network
// namespace and mount namespace of the caller (the root ones for `skiff lab`).
type Resources struct {
	Links     []string `json:"links"`     // "name type"
	Netns     []string `json:"netns"`     // names under /run/netns
	Routes    []string `json:"routes"`    // IPv4 main-table routes
	Tables    []string `json:"tables"`    // nftables "family name"
	Mounts    []string `json:"mounts"`    // mount points under /run/netns and the given dirs
	Processes []string `json:"processes"` // "pid comm netns" of skiff processes and processes in named namespaces
}

// Snapshot lists the host's links, named network namespaces, routes,
// nftables tables, mounts under /run/netns and under dirs (e.g. a lab's Dir),
// and the processes that are skiff's (comm starting with "skiff") or live in
// a named network namespace.
func Snapshot(dirs ...string) (Resources, error) {
	var r Resources
	var errs []error

	links, err := netlink.LinkList()
	if err != nil {
		errs = append(errs, fmt.Errorf("lab: snapshot: listing links: %w", err))
	}
	for _, l := range links {
		r.Links = append(r.Links, l.Attrs().Name+" "+l.Type())
	}

	nsInos := map[uint64]string{}
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("lab: snapshot: listing %s: %w", netnsDir, err))
	}
	for _, e := range entries {
		r.Netns = append(r.Netns, e.Name())
		if ino, err := nsIno(filepath.Join(netnsDir, e.Name())); err == nil {
			nsInos[ino] = e.Name()
		}
	}

	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		errs = append(errs, fmt.Errorf("lab: snapshot: listing routes: %w", err))
	}
	for _, rt := range routes {
		r.Routes = append(r.Routes, formatRoute(rt))
	}

	if conn, err := nftables.New(); err != nil {
		errs = append(errs, fmt.Errorf("lab: snapshot: nftables: %w", err))
	} else {
		tables, err := conn.ListTables()
		if err != nil {
			errs = append(errs, fmt.Errorf("lab: snapshot: listing nftables tables: %w", err))
		}
		for _, t := range tables {
			r.Tables = append(r.Tables, familyName(t.Family)+" "+t.Name)
		}
		_ = conn.CloseLasting()
	}

	mounts, err := mountPoints()
	if err != nil {
		errs = append(errs, err)
	}
	roots := []string{netnsDir}
	for _, d := range dirs {
		if abs, err := filepath.Abs(d); err == nil {
			roots = append(roots, abs)
		}
	}
	for _, m := range mounts {
		for _, root := range roots {
			if under(m, root) {
				r.Mounts = append(r.Mounts, m)
				break
			}
		}
	}

	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procState(pid); err != nil || st == 'Z' || st == 'X' {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		name := strings.TrimSpace(string(comm))
		ino, _ := nsIno(fmt.Sprintf("/proc/%d/ns/net", pid))
		ns, named := nsInos[ino]
		if named || strings.HasPrefix(name, "skiff") {
			r.Processes = append(r.Processes, fmt.Sprintf("%d %s %s", pid, name, ns))
		}
	}

	for _, l := range [][]string{r.Links, r.Netns, r.Routes, r.Tables, r.Mounts, r.Processes} {
		slices.Sort(l)
	}
	return r, errors.Join(errs...)
}

// formatRoute renders a route as `ip route` roughly would.
func formatRoute(rt netlink.Route) string {
	dst := "default"
	if rt.Dst != nil {
		dst = rt.Dst.String()
	}
	var b strings.Builder
	switch rt.Type {
	case unix.RTN_UNICAST:
	case unix.RTN_UNREACHABLE:
		b.WriteString("unreachable ")
	case unix.RTN_BLACKHOLE:
		b.WriteString("blackhole ")
	case unix.RTN_PROHIBIT:
		b.WriteString("prohibit ")
	default:
		fmt.Fprintf(&b, "type%d ", rt.Type)
	}
	b.WriteString(dst)
	if rt.Type == unix.RTN_UNREACHABLE && rt.Priority != 0 {
		fmt.Fprintf(&b, " metric %d", rt.Priority)
	}
	if rt.Gw != nil {
		fmt.Fprintf(&b, " via %s", rt.Gw)
	}
	if rt.LinkIndex > 0 {
		name := strconv.Itoa(rt.LinkIndex)
		if l, err := netlink.LinkByIndex(rt.LinkIndex); err == nil {
			name = l.Attrs().Name
		}
		fmt.Fprintf(&b, " dev %s", name)
	}
	if rt.Src != nil {
		fmt.Fprintf(&b, " src %s", rt.Src)
	}
	return b.String()
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return "family" + strconv.Itoa(int(f))
}

// Diff lists what differs from r to after: "+kind: item" for what after
// has in addition, "-kind: item" for what it lacks. Empty means equal.
func (r Resources) Diff(after Resources) []string {
	var out []string
	kinds := []struct {
		name          string
		before, after []string
	}{
		{"link", r.Links, after.Links},
		{"netns", r.Netns, after.Netns},
		{"route", r.Routes, after.Routes},
		{"nftables", r.Tables, after.Tables},
		{"mount", r.Mounts, after.Mounts},
		{"process", r.Processes, after.Processes},
	}
	for _, k := range kinds {
		for _, x := range k.after {
			if !slices.Contains(k.before, x) {
				out = append(out, "+"+k.name+": "+x)
			}
		}
		for _, x := range k.before {
			if !slices.Contains(k.after, x) {
				out = append(out, "-"+k.name+": "+x)
			}
		}
	}
	return out
}
