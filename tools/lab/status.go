package lab

import (
	"context"
	"fmt"
	"net"
	"strings"
	"text/tabwriter"

	"github.com/vishvananda/netlink"
)

// Status is what `skiff lab status` shows: the lab's parts and whether
// each is there.
type Status struct {
	Dir          string     `json:"dir"`
	Bridge       string     `json:"bridge"`
	BridgeUp     bool       `json:"bridgeUp"`
	BridgeAddr   string     `json:"bridgeAddr"`
	RegistryAddr string     `json:"registryAddr,omitempty"`
	VMs          []VMStatus `json:"vms"`
}

// VMStatus is one VM's part of Status.
type VMStatus struct {
	VM
	// NetnsOK: the namespace exists and is the one the lab made.
	NetnsOK bool `json:"netnsOk"`
	// LinkUp: the host end of its veth is up.
	LinkUp    bool      `json:"linkUp"`
	Processes []Process `json:"processes"`
}

// Status inspects the lab's parts on the host.
func (l *Lab) Status(ctx context.Context) (Status, error) {
	s := l.state
	st := Status{Dir: s.Config.Dir, Bridge: s.Bridge, BridgeAddr: s.BridgeAddr.String(), RegistryAddr: s.RegistryAddr}
	if link, err := netlink.LinkByName(s.Bridge); err == nil {
		st.BridgeUp = link.Attrs().Flags&net.FlagUp != 0
	}
	for _, vm := range s.VMs {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("lab: status: %w", err)
		}
		vs := VMStatus{VM: vm}
		if ino, err := nsIno(vm.NetnsPath()); err == nil && ino == vm.NetnsIno {
			vs.NetnsOK = true
		}
		if link, err := netlink.LinkByName(vm.HostVeth); err == nil {
			vs.LinkUp = link.Attrs().Flags&net.FlagUp != 0
		}
		procs, err := l.Processes(vm.Name)
		if err != nil {
			return st, err
		}
		vs.Processes = procs
		st.VMs = append(st.VMs, vs)
	}
	return st, nil
}

// String renders the status as a table.
func (s Status) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lab %s: bridge %s %s (%s)", s.Dir, s.Bridge, upDown(s.BridgeUp), s.BridgeAddr)
	if s.RegistryAddr != "" {
		fmt.Fprintf(&b, ", registry http://%s", s.RegistryAddr)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tADDRESS\tNETNS\tLINK\tPROCESSES")
	for _, vm := range s.VMs {
		var procs []string
		for _, p := range vm.Processes {
			state := "exited"
			if p.Running {
				state = "running"
			}
			procs = append(procs, fmt.Sprintf("%s(%d %s)", p.Name, p.Pid, state))
		}
		ns := vm.Netns
		if !vm.NetnsOK {
			ns += " (missing)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", vm.Name, vm.Addr.Addr(), ns, upDown(vm.LinkUp), strings.Join(procs, " "))
	}
	tw.Flush()
	return b.String()
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}
