package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// staleFlow names UDP conntrack entries that still send a service's traffic to an endpoint
// that is gone: without deleting them, a client that keeps its socket keeps talking to the
// dead endpoint for as long as it keeps sending (kubernetes#19029).
type staleFlow struct {
	clusterIP netip.Addr // invalid: none
	port      uint16
	nodePort  uint16 // 0: none
	endpoint  netip.Addr
}

// conntracker deletes conntrack entries.
type conntracker interface {
	deleteUDP(ctx context.Context, flows []staleFlow) (int, error)
}

// staleUDPFlows lists, for UDP units, the endpoints that were in old and are not in cur.
func staleUDPFlows(old map[string]*unit, cur []*unit) []staleFlow {
	curByKey := make(map[string]*unit, len(cur))
	for _, u := range cur {
		curByKey[u.key] = u
	}
	var out []staleFlow
	for _, o := range old {
		if o.proto != protoUDP {
			continue
		}
		keep := map[netip.Addr]bool{}
		if n := curByKey[o.key]; n != nil && n.clusterIP == o.clusterIP && n.port == o.port && n.nodePort == o.nodePort {
			for _, e := range n.endpoints {
				keep[e.IP] = true
			}
		}
		for _, e := range o.endpoints {
			if !keep[e.IP] {
				out = append(out, staleFlow{clusterIP: o.clusterIP, port: o.port, nodePort: o.nodePort, endpoint: e.IP})
			}
		}
	}
	return out
}

// netlinkConntrack deletes entries in the network namespace netnsFD (0: ours).
type netlinkConntrack struct {
	netnsFD int
}

func (c *netlinkConntrack) deleteUDP(ctx context.Context, flows []staleFlow) (int, error) {
	if len(flows) == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var filters []netlink.CustomConntrackFilter
	for _, f := range flows {
		ep := net.IP(f.endpoint.AsSlice())
		if f.clusterIP.IsValid() {
			// conntrack -D -p udp --orig-dst <cluster IP> --dport <port> --reply-src <endpoint>
			flt := &netlink.ConntrackFilter{}
			if err := firstErr(flt.AddProtocol(unix.IPPROTO_UDP),
				flt.AddIP(netlink.ConntrackOrigDstIP, net.IP(f.clusterIP.AsSlice())),
				flt.AddPort(netlink.ConntrackOrigDstPort, f.port),
				flt.AddIP(netlink.ConntrackReplySrcIP, ep)); err != nil {
				return 0, fmt.Errorf("conntrack filter for %s: %w", f.endpoint, err)
			}
			filters = append(filters, flt)
		}
		if f.nodePort != 0 {
			// conntrack -D -p udp --dport <node port> --reply-src <endpoint>
			flt := &netlink.ConntrackFilter{}
			if err := firstErr(flt.AddProtocol(unix.IPPROTO_UDP),
				flt.AddPort(netlink.ConntrackOrigDstPort, f.nodePort),
				flt.AddIP(netlink.ConntrackReplySrcIP, ep)); err != nil {
				return 0, fmt.Errorf("conntrack filter for %s: %w", f.endpoint, err)
			}
			filters = append(filters, flt)
		}
	}
	var h *netlink.Handle
	var err error
	if c.netnsFD != 0 {
		h, err = netlink.NewHandleAt(netns.NsHandle(c.netnsFD), unix.NETLINK_NETFILTER)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_NETFILTER)
	}
	if err != nil {
		return 0, fmt.Errorf("opening conntrack netlink: %w", err)
	}
	defer h.Close()
	n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
	if err != nil {
		return int(n), fmt.Errorf("deleting conntrack entries of %d removed UDP endpoints: %w", len(flows), err)
	}
	return int(n), nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
