package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Config describes a lab. Start from DefaultConfig.
type Config struct {
	// Dir holds the lab's state: lab.json and one directory per VM (data,
	// logs, pid files). It must be deeper than one level below /.
	Dir string `json:"dir"`
	// Name prefixes every host name the lab makes: netns "<Name>-vm1", host
	// veth "<Name>-vm1", bridge "<Name>-lab0". Lowercase letters and digits,
	// at most 9 characters (interface names are at most 15).
	Name string `json:"name"`
	// VMs is the number of VMs, named vm1…vmN, at the subnet's .11….(10+N).
	VMs int `json:"vms"`
	// Subnet is the lab's IPv4 network: the bridge is .1, the registry VM .2.
	Subnet netip.Prefix `json:"subnet"`
	// Bridge names the bridge in the root namespace ("" = "<Name>-lab0").
	Bridge string `json:"bridge"`
	// Registry starts docker-registry in the "reg" VM and pushes the lab
	// images (testimages.LabImages) into it.
	Registry bool `json:"registry"`
	// RegistryPort is the registry's port on the reg VM's address.
	RegistryPort int `json:"registryPort"`
	// ImageCache keeps hello-app builds between labs ("" = the user cache
	// directory's skiff/testimages).
	ImageCache string `json:"imageCache"`
	// Blackhole ranges get `unreachable` routes in the root namespace while
	// the lab is up (the pod and service ranges), so nothing leaks out.
	Blackhole []netip.Prefix `json:"blackhole"`
	// StopGrace is how long Down waits after SIGTERM before SIGKILL.
	StopGrace time.Duration `json:"stopGrace"`
}

// The defaults Config uses.
const (
	DefaultName         = "skiff"
	DefaultVMs          = 3
	DefaultRegistryPort = 5000
	DefaultStopGrace    = 5 * time.Second
)

// Default address ranges.
var (
	DefaultSubnet      = netip.MustParsePrefix("10.99.0.0/24")
	DefaultPodCIDR     = netip.MustParsePrefix("10.244.0.0/16")
	DefaultServiceCIDR = netip.MustParsePrefix("10.96.0.0/12")
)

// RegistryVM is the name of the VM the registry runs in.
const RegistryVM = "reg"

// DefaultConfig is a three-VM lab named "skiff" on 10.99.0.0/24 with a
// registry; Dir must still be set.
func DefaultConfig() Config {
	return Config{
		Name:         DefaultName,
		VMs:          DefaultVMs,
		Subnet:       DefaultSubnet,
		Registry:     true,
		RegistryPort: DefaultRegistryPort,
		Blackhole:    []netip.Prefix{DefaultPodCIDR, DefaultServiceCIDR},
		StopGrace:    DefaultStopGrace,
	}
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,8}$`)

// Validate reports the first problem with c.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("lab: config: Dir is empty")
	}
	if d, err := filepath.Abs(c.Dir); err != nil || strings.Count(d, string(filepath.Separator)) < 2 {
		return fmt.Errorf("lab: config: Dir %q is too close to / (the lab removes what it puts there)", c.Dir)
	}
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("lab: config: Name %q: want a lowercase letter then up to 8 lowercase letters or digits", c.Name)
	}
	if c.Bridge != "" && (len(c.Bridge) > 15 || strings.ContainsAny(c.Bridge, "/ \t\n:")) {
		return fmt.Errorf("lab: config: Bridge %q is not a valid interface name", c.Bridge)
	}
	if !c.Subnet.IsValid() || !c.Subnet.Addr().Is4() {
		return fmt.Errorf("lab: config: Subnet %v: want an IPv4 prefix", c.Subnet)
	}
	if c.Subnet.Masked() != c.Subnet {
		return fmt.Errorf("lab: config: Subnet %v has host bits set (want %v)", c.Subnet, c.Subnet.Masked())
	}
	if c.VMs < 1 || c.VMs > 99 {
		return fmt.Errorf("lab: config: VMs %d: want 1 to 99", c.VMs)
	}
	// VM i is .(10+i); the broadcast address is the last.
	if size := 1 << (32 - c.Subnet.Bits()); 10+c.VMs >= size-1 {
		return fmt.Errorf("lab: config: Subnet %v has room for %d VMs, not %d", c.Subnet, max(0, size-12), c.VMs)
	}
	if c.Registry && (c.RegistryPort < 1 || c.RegistryPort > 65535) {
		return fmt.Errorf("lab: config: RegistryPort %d out of range", c.RegistryPort)
	}
	for _, p := range c.Blackhole {
		if !p.IsValid() || !p.Addr().Is4() || p.Masked() != p {
			return fmt.Errorf("lab: config: Blackhole range %v: want a masked IPv4 prefix", p)
		}
		if p.Bits() >= c.Subnet.Bits() && c.Subnet.Overlaps(p) {
			return fmt.Errorf("lab: config: Blackhole range %v would cut off the lab subnet %v", p, c.Subnet)
		}
	}
	if c.StopGrace < 0 {
		return fmt.Errorf("lab: config: StopGrace %v is negative", c.StopGrace)
	}
	return nil
}

// withDefaults fills the derived fields: an absolute Dir, the bridge name,
// the image cache.
func (c Config) withDefaults() (Config, error) {
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return c, fmt.Errorf("lab: config: resolving Dir %q: %w", c.Dir, err)
	}
	c.Dir = dir
	if c.Bridge == "" {
		c.Bridge = c.Name + "-lab0"
	}
	if c.ImageCache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = filepath.Join(os.TempDir(), "skiff-cache")
		}
		c.ImageCache = filepath.Join(base, "skiff", "testimages")
	}
	return c, nil
}

// plan returns the lab c describes, before anything exists: names and
// addresses of the bridge and every VM. c has its defaults filled.
func plan(c Config) State {
	base := c.Subnet.Addr().As4()
	at := func(host int) netip.Addr {
		a := base
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		v += uint32(host)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	vm := func(name string, host int) VM {
		return VM{
			Name:     name,
			Netns:    c.Name + "-" + name,
			HostVeth: c.Name + "-" + name,
			Addr:     netip.PrefixFrom(at(host), c.Subnet.Bits()),
		}
	}
	s := State{
		Version:    stateVersion,
		Config:     c,
		Bridge:     c.Bridge,
		BridgeAddr: netip.PrefixFrom(at(1), c.Subnet.Bits()),
	}
	for i := 1; i <= c.VMs; i++ {
		s.VMs = append(s.VMs, vm(fmt.Sprintf("vm%d", i), 10+i))
	}
	if c.Registry {
		s.VMs = append(s.VMs, vm(RegistryVM, 2))
		s.RegistryAddr = netip.AddrPortFrom(at(2), uint16(c.RegistryPort)).String()
	}
	return s
}
