package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Route sends another node's pod CIDR to that node's address (host-gw: the node must be on
// the same link).
type Route struct {
	PodCIDR netip.Prefix
	Via     netip.Addr
}

func (r Route) String() string { return r.PodCIDR.String() + " via " + r.Via.String() }

// SyncRoutes makes the host's routes to other nodes' pod CIDRs exactly routes: it adds the
// missing ones, replaces those whose node address changed, and deletes the ones it added
// before that are no longer wanted. Routes it did not add (another protocol number) are never
// deleted. It applies what it can and returns every failure.
func (m *Manager) SyncRoutes(ctx context.Context, routes []Route) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncRoutes(ctx, routes)
}

func (m *Manager) syncRoutes(ctx context.Context, routes []Route) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("network: syncing routes: %w", err)
	}
	desired, err := normalizeRoutes(m.cfg.PodCIDR, routes)
	if err != nil {
		return err
	}
	proto := netlink.RouteProtocol(m.cfg.RouteProtocol)
	nlRoutes, err := retryDump(func() ([]netlink.Route, error) {
		return m.host.RouteListFiltered(unix.AF_INET, &netlink.Route{Protocol: proto, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return fmt.Errorf("network: listing routes of protocol %d: %w", proto, err)
	}
	byDst := map[netip.Prefix]netlink.Route{}
	var existing []Route
	for _, r := range nlRoutes {
		dst, ok := prefixOf(defaultIfNil(r.Dst))
		via, vok := addrOf(r.Gw)
		if !ok {
			continue
		}
		if !vok {
			via = netip.Addr{}
		}
		byDst[dst] = r
		existing = append(existing, Route{PodCIDR: dst, Via: via})
	}
	replace, del := planRoutes(existing, desired)
	var errs []error
	for _, r := range replace {
		nr := &netlink.Route{Dst: ipNet(r.PodCIDR), Gw: r.Via.AsSlice(), Protocol: proto, Table: unix.RT_TABLE_MAIN, Scope: netlink.SCOPE_UNIVERSE}
		if err := m.host.RouteReplace(nr); err != nil {
			errs = append(errs, fmt.Errorf("network: routing %v: %w", r, err))
			continue
		}
		m.log.Info("routed remote pod CIDR", "podCIDR", r.PodCIDR.String(), "via", r.Via.String())
	}
	for _, r := range del {
		nr := byDst[r.PodCIDR]
		if err := m.host.RouteDel(&nr); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("network: deleting stale route %v: %w", r, err))
			continue
		}
		m.log.Info("deleted stale pod CIDR route", "podCIDR", r.PodCIDR.String(), "via", r.Via.String())
	}
	return errors.Join(errs...)
}

// normalizeRoutes checks routes and returns them sorted with duplicates removed.
func normalizeRoutes(own netip.Prefix, routes []Route) ([]Route, error) {
	seen := map[netip.Prefix]netip.Addr{}
	var out []Route
	var errs []error
	for _, r := range routes {
		switch {
		case !r.PodCIDR.IsValid() || !r.PodCIDR.Addr().Is4():
			errs = append(errs, fmt.Errorf("route %v: pod CIDR is not IPv4", r))
			continue
		case !r.Via.IsValid() || !r.Via.Is4():
			errs = append(errs, fmt.Errorf("route %v: node address is not IPv4", r))
			continue
		case r.PodCIDR.Overlaps(own):
			errs = append(errs, fmt.Errorf("route %v: overlaps this node's pod CIDR %v", r, own))
			continue
		}
		r.PodCIDR = r.PodCIDR.Masked()
		if via, dup := seen[r.PodCIDR]; dup {
			if via != r.Via {
				errs = append(errs, fmt.Errorf("pod CIDR %v routed via both %v and %v", r.PodCIDR, via, r.Via))
			}
			continue
		}
		seen[r.PodCIDR] = r.Via
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("network: invalid routes: %w", err)
	}
	slices.SortFunc(out, compareRoutes)
	return out, nil
}

func compareRoutes(a, b Route) int {
	if c := a.PodCIDR.Addr().Compare(b.PodCIDR.Addr()); c != 0 {
		return c
	}
	return a.PodCIDR.Bits() - b.PodCIDR.Bits()
}

// planRoutes returns the routes to add or replace and the ones to delete to turn existing
// (the routes carrying our protocol) into desired (normalized).
func planRoutes(existing, desired []Route) (replace, del []Route) {
	have := map[netip.Prefix]netip.Addr{}
	for _, r := range existing {
		have[r.PodCIDR] = r.Via
	}
	want := map[netip.Prefix]bool{}
	for _, r := range desired {
		want[r.PodCIDR] = true
		if via, ok := have[r.PodCIDR]; !ok || via != r.Via {
			replace = append(replace, r)
		}
	}
	for _, r := range existing {
		if !want[r.PodCIDR] {
			del = append(del, r)
		}
	}
	slices.SortFunc(del, compareRoutes)
	return replace, del
}
