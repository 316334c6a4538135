package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ContainerSpec is what Create needs to make a container: a pod's container
// translated by the caller (which chooses IDs, paths and the network
// namespace).
type ContainerSpec struct {
	// ID is the containerd container ID; it also names the snapshot and the
	// last element of the cgroup path. Unique on the node.
	ID string
	// Image is the image reference (as EnsureImage was given or returned).
	Image string
	// Command and Args follow Kubernetes: Command replaces the image's
	// ENTRYPOINT, Args its CMD (see ProcessArgs). $(VAR) refers to Env.
	Command []string
	Args    []string
	// Env is added to the image's environment, later entries winning.
	// Values may refer to earlier entries as $(VAR).
	Env        []EnvVar
	WorkingDir string // empty: the image's, or "/"
	Hostname   string // the pod name
	// NetNSPath is a network namespace to join (a bind-mounted netns file);
	// empty: a new, unconnected one.
	NetNSPath string
	// CgroupParent is the cgroup the container's goes under, e.g.
	// "/skiff/<node>/<pod-uid>"; the container's is CgroupParent/ID.
	CgroupParent string
	Resources    Resources
	Mounts       []Mount
	// LogPath is the container's log file (absolute). Empty: output is
	// discarded.
	LogPath string
	// Meta is recorded in labels, for adoption after a restart.
	Meta Meta
	// Labels are extra container labels.
	Labels map[string]string
}

// EnvVar is one environment variable.
type EnvVar struct{ Name, Value string }

// Resources are a container's requests and limits.
type Resources struct {
	CPURequestMilli  int64 // → cpu.shares
	CPULimitMilli    int64 // → CFS quota; 0: none
	MemoryLimitBytes int64 // → memory limit; 0: none
}

// Mount bind-mounts a host path into the container.
type Mount struct {
	HostPath      string
	ContainerPath string
	ReadOnly      bool
}

// Meta ties a container to its pod.
type Meta struct {
	PodUID        string
	PodNamespace  string
	PodName       string
	ContainerName string
	Attempt       uint32 // restart count
}

// Validate reports a spec Create cannot use.
func (c *ContainerSpec) Validate() error {
	switch {
	case c.ID == "" || strings.ContainsAny(c.ID, "/ \n"):
		return fmt.Errorf("runtime: container ID %q is empty or has a slash or space", c.ID)
	case c.Image == "":
		return fmt.Errorf("runtime: container %s: no image", c.ID)
	case c.NetNSPath != "" && !path.IsAbs(c.NetNSPath):
		return fmt.Errorf("runtime: container %s: netns path %q is not absolute", c.ID, c.NetNSPath)
	case c.CgroupParent != "" && !path.IsAbs(c.CgroupParent):
		return fmt.Errorf("runtime: container %s: cgroup parent %q is not absolute", c.ID, c.CgroupParent)
	case c.LogPath != "" && !path.IsAbs(c.LogPath):
		return fmt.Errorf("runtime: container %s: log path %q is not absolute", c.ID, c.LogPath)
	case c.Resources.CPURequestMilli < 0 || c.Resources.CPULimitMilli < 0 || c.Resources.MemoryLimitBytes < 0:
		return fmt.Errorf("runtime: container %s: negative resources %+v", c.ID, c.Resources)
	}
	for _, m := range c.Mounts {
		if !path.IsAbs(m.HostPath) || !path.IsAbs(m.ContainerPath) {
			return fmt.Errorf("runtime: container %s: mount %s:%s needs absolute paths", c.ID, m.HostPath, m.ContainerPath)
		}
	}
	return nil
}

// ErrNoCommand reports a container with neither a command nor an image
// ENTRYPOINT/CMD.
var ErrNoCommand = errors.New("runtime: no command specified")

// ProcessArgs applies Kubernetes' rules for command and args against the
// image's ENTRYPOINT and CMD:
//
//	neither:      ENTRYPOINT + CMD
//	command only: command (CMD ignored)
//	args only:    ENTRYPOINT + args
//	both:         command + args
func ProcessArgs(entrypoint, cmd, command, args []string) []string {
	switch {
	case len(command) == 0 && len(args) == 0:
		return concat(entrypoint, cmd)
	case len(command) == 0:
		return concat(entrypoint, args)
	default:
		return concat(command, args)
	}
}

func concat(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// defaultPath is used when neither image nor container sets PATH.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Process is the process part of a container's spec.
type Process struct {
	Args []string
	Env  []string // NAME=value
	Cwd  string
}

// BuildProcess computes a container's process from its image config and spec:
// args by ProcessArgs with $(VAR) expanded from the container's env, the
// image's env overridden by the container's, and the working directory.
func BuildProcess(img ocispec.ImageConfig, c *ContainerSpec) (Process, error) {
	// Container env, each value expanded against the entries before it.
	vars := map[string]string{}
	var order []string
	set := func(name, value string) {
		if _, ok := vars[name]; !ok {
			order = append(order, name)
		}
		vars[name] = value
	}
	for _, kv := range img.Env {
		name, value, _ := strings.Cut(kv, "=")
		set(name, value)
	}
	containerVars := map[string]string{}
	for _, e := range c.Env {
		v := Expand(e.Value, containerVars)
		containerVars[e.Name] = v
		set(e.Name, v)
	}
	if _, ok := vars["PATH"]; !ok {
		set("PATH", strings.TrimPrefix(defaultPath, "PATH="))
	}
	env := make([]string, 0, len(order))
	for _, name := range order {
		env = append(env, name+"="+vars[name])
	}

	expand := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = Expand(s, containerVars)
		}
		return out
	}
	args := ProcessArgs(img.Entrypoint, img.Cmd, expand(c.Command), expand(c.Args))
	if len(args) == 0 {
		return Process{}, fmt.Errorf("%w for container %s (image %s has no ENTRYPOINT or CMD)", ErrNoCommand, c.ID, c.Image)
	}
	cwd := c.WorkingDir
	if cwd == "" {
		cwd = img.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	return Process{Args: args, Env: env, Cwd: cwd}, nil
}

// Expand replaces $(VAR) in s with vars[VAR] as Kubernetes does: "$$" is a
// literal "$", and a reference to an unknown variable is left as it is.
func Expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// Kubelet's CPU conversions (pkg/kubelet/cm/helpers_linux.go).
const (
	minShares     = 2
	maxShares     = 262144
	sharesPerCPU  = 1024
	milliPerCPU   = 1000
	QuotaPeriodUs = 100000 // CFS period, 100 ms
	minQuotaUs    = 1000
)

// CPUShares converts a CPU request in millicores to cgroup v1 cpu.shares.
func CPUShares(milli int64) uint64 {
	if milli <= 0 {
		return minShares
	}
	shares := milli * sharesPerCPU / milliPerCPU
	return uint64(min(max(shares, minShares), maxShares))
}

// CPUQuota converts a CPU limit in millicores to a CFS quota for period
// (microseconds); 0 means no limit and returns -1.
func CPUQuota(milli int64, period uint64) int64 {
	if milli <= 0 {
		return -1
	}
	q := milli * int64(period) / milliPerCPU
	return max(q, minQuotaUs)
}

// CgroupPath is the container's cgroup: parent/ID, or none when parent is
// empty (containerd's default, /<namespace>/<ID>).
func CgroupPath(parent, id string) string {
	if parent == "" {
		return ""
	}
	return path.Join(parent, id)
}

// specOpts lists the OCI spec options for c on top of containerd's default
// spec; user names in the image config are resolved against its rootfs.
func specOpts(img ocispec.ImageConfig, c *ContainerSpec) ([]oci.SpecOpts, error) {
	p, err := BuildProcess(img, c)
	if err != nil {
		return nil, err
	}
	opts := []oci.SpecOpts{
		func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Process.Args = p.Args
			s.Process.Env = p.Env
			s.Process.Cwd = p.Cwd
			s.Process.Terminal = false
			return nil
		},
	}
	if img.User != "" {
		opts = append(opts, oci.WithUser(img.User), oci.WithAdditionalGIDs(img.User))
	}
	if c.Hostname != "" {
		opts = append(opts, oci.WithHostname(c.Hostname))
	}
	if c.NetNSPath != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: c.NetNSPath}))
	}
	if cg := CgroupPath(c.CgroupParent, c.ID); cg != "" {
		opts = append(opts, oci.WithCgroup(cg))
	}
	opts = append(opts, oci.WithCPUShares(CPUShares(c.Resources.CPURequestMilli)))
	if q := CPUQuota(c.Resources.CPULimitMilli, QuotaPeriodUs); q > 0 {
		opts = append(opts, oci.WithCPUCFS(q, QuotaPeriodUs))
	}
	if m := c.Resources.MemoryLimitBytes; m > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(m)))
		if swapAccounting() {
			// As containerd's CRI: memory+swap = memory, so no swapping.
			opts = append(opts, withMemorySwap(m))
		}
	}
	if len(c.Mounts) > 0 {
		var ms []specs.Mount
		for _, m := range c.Mounts {
			o := []string{"rbind", "rprivate"}
			if m.ReadOnly {
				o = append(o, "ro")
			} else {
				o = append(o, "rw")
			}
			ms = append(ms, specs.Mount{Type: "bind", Source: m.HostPath, Destination: m.ContainerPath, Options: o})
		}
		opts = append(opts, oci.WithMounts(ms))
	}
	return opts, nil
}

func withMemorySwap(limit int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux != nil && s.Linux.Resources != nil && s.Linux.Resources.Memory != nil {
			s.Linux.Resources.Memory.Swap = &limit
		}
		return nil
	}
}

var swapOnce = sync.OnceValue(func() bool {
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
})

// swapAccounting says whether the memory cgroup (v1) accounts swap; runc
// refuses a swap limit otherwise.
func swapAccounting() bool { return swapOnce() }

// BuildSpec builds the OCI runtime spec Create would give c, for an image
// with config img, without containerd (user names in img are not resolved).
// The pod syncer's tests and this package's use it to check specs as data.
func BuildSpec(ctx context.Context, namespace string, img ocispec.ImageConfig, c *ContainerSpec) (*oci.Spec, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	img.User = "" // resolving a user name needs the rootfs
	opts, err := specOpts(img, c)
	if err != nil {
		return nil, err
	}
	ctx = withNamespace(ctx, namespace)
	return oci.GenerateSpec(ctx, nil, &containers.Container{ID: c.ID}, opts...)
}
