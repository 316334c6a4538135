package network

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
)

// DefaultRouteProtocol is the route protocol number (rtm_protocol) that marks the routes to
// other nodes' pod CIDRs that SyncRoutes owns. It is not one of the numbers iproute2 reserves.
const DefaultRouteProtocol = 83

// Config configures a Manager. Start from DefaultConfig.
type Config struct {
	// StateDir holds the pods' namespace mounts (netns/) and the address reservations (ipam/).
	StateDir string
	// PodCIDR is the node's IPv4 pod range; its first usable address is the pods' gateway.
	PodCIDR netip.Prefix
	// HostNetns is the path of the node's host network namespace; "" means the process's own.
	HostNetns string
	// MTU of the pod links; 0 takes the MTU of the link holding NodeIP, else of the link of the
	// default route, else 1500.
	MTU int
	// NodeIP is the node's address on its uplink (optional; used to find the uplink's MTU).
	NodeIP netip.Addr
	// RouteProtocol marks the routes SyncRoutes adds and may delete.
	RouteProtocol int
}

// DefaultConfig returns a Config with every default set; PodCIDR must still be filled in.
func DefaultConfig() Config {
	return Config{
		StateDir:      "/var/lib/skiff/network",
		RouteProtocol: DefaultRouteProtocol,
	}
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if c.StateDir == "" || !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("StateDir %q must be an absolute path", c.StateDir))
	}
	switch {
	case !c.PodCIDR.IsValid():
		errs = append(errs, errors.New("PodCIDR is not set"))
	case !c.PodCIDR.Addr().Is4():
		errs = append(errs, fmt.Errorf("PodCIDR %v is not IPv4 (only IPv4 is supported)", c.PodCIDR))
	case c.PodCIDR.Bits() > 30:
		errs = append(errs, fmt.Errorf("PodCIDR %v is too small (at most /30)", c.PodCIDR))
	}
	if c.HostNetns != "" && !filepath.IsAbs(c.HostNetns) {
		errs = append(errs, fmt.Errorf("HostNetns %q must be an absolute path", c.HostNetns))
	}
	if c.MTU != 0 && (c.MTU < 576 || c.MTU > 65535) {
		errs = append(errs, fmt.Errorf("MTU %d out of range [576, 65535] (0 = from the uplink)", c.MTU))
	}
	if c.NodeIP.IsValid() && !c.NodeIP.Is4() {
		errs = append(errs, fmt.Errorf("NodeIP %v is not IPv4", c.NodeIP))
	}
	if c.RouteProtocol < 5 || c.RouteProtocol > 255 {
		errs = append(errs, fmt.Errorf("RouteProtocol %d out of range [5, 255] (0-4 belong to the kernel)", c.RouteProtocol))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("network: invalid config: %w", err)
	}
	return nil
}
