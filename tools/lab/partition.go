package lab

import (
	"errors"
	"fmt"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
)

// partitionTable is the nftables table (family inet) that cuts a VM off, inside the VM's own
// namespace; the node daemon's service rules live in table ip skiff beside it.
const partitionTable = "skiff-partition"

// Isolate cuts a VM off the lab network, as a pulled cable would: inside its namespace every
// packet in or out of its uplink (eth0) is dropped, established connections included, while
// its processes and pods keep running. Heal undoes it. Isolating an isolated VM is a no-op.
func (l *Lab) Isolate(vm string) error {
	v, err := l.VM(vm)
	if err != nil {
		return err
	}
	return withNft(v, func(c *nftables.Conn) error {
		if existing, _ := findTable(c); existing != nil {
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

// Heal reconnects a VM that Isolate cut off; a VM that is not isolated is left alone.
func (l *Lab) Heal(vm string) error {
	v, err := l.VM(vm)
	if err != nil {
		return err
	}
	return withNft(v, func(c *nftables.Conn) error {
		t, err := findTable(c)
		if err != nil || t == nil {
			return err
		}
		c.DelTable(t)
		if err := c.Flush(); err != nil {
			return fmt.Errorf("lab: heal %s: %w", vm, err)
		}
		return nil
	})
}

// Isolated reports whether Isolate cut the VM off.
func (l *Lab) Isolated(vm string) (bool, error) {
	v, err := l.VM(vm)
	if err != nil {
		return false, err
	}
	found := false
	err = withNft(v, func(c *nftables.Conn) error {
		t, err := findTable(c)
		found = t != nil
		return err
	})
	return found, err
}

func findTable(c *nftables.Conn) (*nftables.Table, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("lab: list nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == partitionTable {
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
