package fault

import (
	"context"

	"github.com/skiff-sh/skiff/tools/lab"
)

// Target is the cluster faults act on: servers in VMs, named by VM. The lab
// implements it in tools/chaos/run; Mem is an in-memory one for tests.
type Target interface {
	// Servers lists the VMs running a raft member, in a fixed order.
	Servers() []string
	// Leader is the VM whose server leads, as the reachable members agree.
	Leader(ctx context.Context) (string, error)
	// Kill kills the VM's server process with SIGKILL and waits for it to exit.
	Kill(ctx context.Context, vm string) error
	// Restart starts a killed server again and waits until it serves.
	Restart(ctx context.Context, vm string) error
	// Pause stops the server process (SIGSTOP); Resume continues it (SIGCONT).
	Pause(vm string) error
	Resume(vm string) error
	// Isolate cuts the VM off the network; CutLinks cuts the given links
	// only (the host still reaches every VM); HealNetwork undoes both for
	// the VMs named.
	Isolate(vm string) error
	CutLinks(links ...lab.Link) error
	HealNetwork(vms ...string) error
	// KillContainerd kills the VM's containerd with SIGKILL and returns its
	// pid; ContainerdBack waits until another containerd runs in the VM.
	KillContainerd(ctx context.Context, vm string) (int, error)
	ContainerdBack(ctx context.Context, vm string, old int) error
	// TransferLeader asks the leader to hand leadership to the VM's server
	// and waits for the answer.
	TransferLeader(ctx context.Context, to string) error
	// CorruptData damages the raft data of the VM's stopped server, a bit
	// flipped in or a truncation of its raft log or newest snapshot, as
	// pick chooses, and says what it did. On error nothing was damaged.
	CorruptData(ctx context.Context, vm string, pick uint64) (string, error)
	// Start starts the VM's stopped server and waits until it serves or
	// exits; the outcome says which ("serves", or "exited: " and the
	// server's last error). The error is a server that could not be run.
	Start(ctx context.Context, vm string) (outcome string, err error)
	// Rejoin makes the VM's server a serving member again: one that runs
	// and serves is left alone; otherwise it is stopped, its raft data
	// removed, and it is started to rejoin from its peers. The outcome
	// says which.
	Rejoin(ctx context.Context, vm string) (outcome string, err error)
	// FillDisk fills the file system under the VM's server data and says
	// how much it took; FreeDisk frees it and restarts the server if it
	// stopped meanwhile, saying whether it did.
	FillDisk(ctx context.Context, vm string) (string, error)
	FreeDisk(ctx context.Context, vm string) (outcome string, err error)
}
