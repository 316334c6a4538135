package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
)

// partitionTable is the nftables table (family inet) that cuts a VM off, inside the VM's own
// namespace; the node daemon's service rules live in table ip skiff beside it.
const partitionTable = "skiff-partition"

// cutTable is the nftables table (family inet) that drops a VM's traffic to and from given
// lab addresses (CutLinks, Partition, Ring), inside the VM's namespace. The host and the
// registry stay reachable, so clients on the host still reach every side of a partition.
const cutTable = "skiff-cut"

// Isolate cuts a VM off the lab network, as a pulled cable would: inside its namespace every
// packet in or out of its uplink (eth0) is dropped, established connections included, while
// its processes and pods keep running. Heal undoes it. Isolating an isolated VM is a no-op.
func (l *Lab) Isolate(vm string) error {
	v, err := l.VM(vm)
	if err != nil {
		return err
	}
	return withNft(v, func(c *nftables.Conn) error {
		if existing, _ := findTable(c, partitionTable); existing != nil {
			return nil
		}
		t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: partitionTable})
		for _, h := range []struct {
			name string
			hook *nftables.ChainHook
			meta expr.MetaKey
		}{
			{"input", nftables.ChainHookInput, expr.MetaKeyIIFNAME},
			{"output", nftables.ChainHookOutput, expr.MetaKeyOIFNAME},
			{"forward-in", nftables.ChainHookForward, expr.MetaKeyIIFNAME},
			{"forward-out", nftables.ChainHookForward, expr.MetaKeyOIFNAME},
		} {
			ch := c.AddChain(&nftables.Chain{Name: h.name, Table: t, Type: nftables.ChainTypeFilter,
				Hooknum: h.hook, Priority: nftables.ChainPriorityRaw})
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
				&expr.Meta{Key: h.meta, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("eth0")},
				&expr.Verdict{Kind: expr.VerdictDrop},
			}})
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("lab: isolate %s: %w", vm, err)
		}
		return nil
	})
}

// Heal reconnects a VM: it removes what Isolate, CutLinks, Partition and Ring put in the VM's
// namespace. A VM that is not cut off is left alone. Drops that other VMs hold against this
// one stay (HealAll removes every one).
func (l *Lab) Heal(vm string) error {
	v, err := l.VM(vm)
	if err != nil {
		return err
	}
	return withNft(v, func(c *nftables.Conn) error {
		found := false
		for _, name := range []string{partitionTable, cutTable} {
			t, err := findTable(c, name)
			if err != nil {
				return err
			}
			if t != nil {
				c.DelTable(t)
				found = true
			}
		}
		if !found {
			return nil
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("lab: heal %s: %w", vm, err)
		}
		return nil
	})
}

// HealAll heals every VM of the lab (Heal), so no partition of any kind is left.
func (l *Lab) HealAll() error {
	var errs []error
	for _, vm := range l.state.VMs {
		if err := l.Heal(vm.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Isolated reports whether Isolate cut the VM off.
func (l *Lab) Isolated(vm string) (bool, error) {
	return l.hasTable(vm, partitionTable)
}

// Partitioned reports whether CutLinks (Partition, Ring) left drops in the VM's namespace.
func (l *Lab) Partitioned(vm string) (bool, error) {
	return l.hasTable(vm, cutTable)
}

func (l *Lab) hasTable(vm, name string) (bool, error) {
	v, err := l.VM(vm)
	if err != nil {
		return false, err
	}
	found := false
	err = withNft(v, func(c *nftables.Conn) error {
		t, err := findTable(c, name)
		found = t != nil
		return err
	})
	return found, err
}

// Link is a pair of VMs (by name) that can talk to each other.
type Link [2]string

// CutLinks makes the VMs of each link unable to talk to each other, both ways, while they
// still reach the host, the registry and the VMs they are not cut from. It replaces the cuts
// in every VM it names (a VM named in no link keeps what it had); Heal or HealAll undo it.
func (l *Lab) CutLinks(links ...Link) error {
	peers := CutPeers(links)
	names := make([]string, 0, len(peers))
	for vm := range peers {
		names = append(names, vm)
	}
	sort.Strings(names)
	var errs []error
	for _, vm := range names {
		var addrs []netip.Addr
		for _, p := range peers[vm] {
			pv, err := l.VM(p)
			if err != nil {
				return err
			}
			addrs = append(addrs, pv.Addr.Addr())
		}
		if err := l.setCuts(vm, addrs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Partition splits the named VMs into groups that cannot talk to each other (a VM talks only
// to the VMs of its own group), e.g. Partition([]string{"vm1"}, []string{"vm2", "vm3"}) for a
// minority and a majority. VMs in no group are left alone.
func (l *Lab) Partition(groups ...[]string) error {
	return l.CutLinks(PartitionLinks(groups...)...)
}

// Ring cuts the VMs, in the order given, into a ring of overlapping majorities (RingLinks):
// every VM still sees a majority, but no two see the same one.
func (l *Lab) Ring(vms ...string) error {
	return l.CutLinks(RingLinks(vms)...)
}

// PartitionLinks are the links between VMs of different groups.
func PartitionLinks(groups ...[]string) []Link {
	var out []Link
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					out = append(out, Link{a, b})
				}
			}
		}
	}
	return out
}

// RingLinks are the links to cut so that VMs in ring order keep only their near neighbours:
// with n VMs each keeps those within ring distance ceil(floor(n/2)/2), so it sees a majority
// (itself and 2·that many), and neighbouring VMs see different majorities. Three VMs are the
// one exception where that cuts nothing: there the link between the first two is cut, so
// they see {first, third} and {second, third}, and only the third sees everyone.
func RingLinks(vms []string) []Link {
	n := len(vms)
	if n < 3 {
		return nil
	}
	if n == 3 {
		return []Link{{vms[0], vms[1]}}
	}
	keep := (n/2 + 1) / 2
	var out []Link
	for i := range n {
		for j := i + 1; j < n; j++ {
			d := min(j-i, n-(j-i))
			if d > keep {
				out = append(out, Link{vms[i], vms[j]})
			}
		}
	}
	return out
}

// CutPeers turns links into, per VM, the sorted VMs it must not talk to.
func CutPeers(links []Link) map[string][]string {
	out := map[string][]string{}
	add := func(a, b string) {
		if a != b && !slices.Contains(out[a], b) {
			out[a] = append(out[a], b)
		}
	}
	for _, lk := range links {
		add(lk[0], lk[1])
		add(lk[1], lk[0])
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// setCuts replaces vm's cut table with drops of every packet from or to addrs (IPv4).
func (l *Lab) setCuts(vm string, addrs []netip.Addr) error {
	v, err := l.VM(vm)
	if err != nil {
		return err
	}
	return withNft(v, func(c *nftables.Conn) error {
		if old, err := findTable(c, cutTable); err != nil {
			return err
		} else if old != nil {
			c.DelTable(old)
		}
		t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: cutTable})
		for _, h := range []struct {
			name string
			hook *nftables.ChainHook
		}{
			{"input", nftables.ChainHookInput},
			{"output", nftables.ChainHookOutput},
			{"forward", nftables.ChainHookForward},
		} {
			ch := c.AddChain(&nftables.Chain{Name: h.name, Table: t, Type: nftables.ChainTypeFilter,
				Hooknum: h.hook, Priority: nftables.ChainPriorityRaw})
			for _, a := range addrs {
				for _, rule := range CutRules(a) {
					c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: rule})
				}
			}
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("lab: cutting %s off %v: %w", vm, addrs, err)
		}
		l.logger.Info("lab links cut", "vm", vm, "from", addrs)
		return nil
	})
}

// CutRules are the two rules that drop IPv4 packets from and to a (source and destination
// address compared in the network header).
func CutRules(a netip.Addr) [][]expr.Any {
	b := a.As4()
	rule := func(offset uint32) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{2}}, // NFPROTO_IPV4
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}
	}
	return [][]expr.Any{rule(12), rule(16)} // saddr, daddr
}

func findTable(c *nftables.Conn, name string) (*nftables.Table, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("lab: list nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == name {
			return t, nil
		}
	}
	return nil, nil
}

// withNft runs fn with an nftables connection inside the VM's namespace.
func withNft(v VM, fn func(*nftables.Conn) error) error {
	if v.NetnsIno != 0 {
		if ino, err := nsIno(v.NetnsPath()); err != nil || ino != v.NetnsIno {
			return fmt.Errorf("lab: %s is not the namespace the lab made for %s", v.NetnsPath(), v.Name)
		}
	}
	ns, err := netns.GetFromPath(v.NetnsPath())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("lab: VM %s has no namespace (is the lab up?): %w", v.Name, err)
		}
		return fmt.Errorf("lab: open %s: %w", v.NetnsPath(), err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("lab: nftables in %s: %w", v.Netns, err)
	}
	defer c.CloseLasting() //nolint:errcheck // a non-lasting connection has nothing to close
	return fn(c)
}

// ifname is an interface name as nftables compares it: NUL-padded to IFNAMSIZ.
func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}
