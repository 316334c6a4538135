package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/control/apiclient"
)

// Ports of Skiff's servers inside each VM.
const (
	RaftPort   = 7000
	ClientPort = 2379
	APIPort    = 6443
	SerfPort   = 7946
)

// ClusterConfig says what runs in the lab's VMs.
type ClusterConfig struct {
	// Binary is the skiff binary the VMs run.
	Binary string
	// Servers is how many VMs (the first ones) run `skiff server
	// --with-node`, forming the Raft cluster; the others run `skiff node`.
	// Default: every VM.
	Servers int
	// Start is how many VMs (the first ones) to start now; the others are
	// left alone until a later StartCluster. Default: every VM.
	Start int
	// StaticPeers names every server's raft peers (--peers) instead of letting
	// them form the cluster through Serf (--bootstrap-expect, the default).
	StaticPeers bool
	// BootstrapExpect is the servers' --bootstrap-expect (default: Servers).
	BootstrapExpect int
	// DeadServerCleanup, if set, is the servers' --dead-server-cleanup.
	DeadServerCleanup time.Duration
	// LogLevel of the servers and nodes.
	LogLevel string
	// Ready bounds the wait for every node to be Ready (default 3 min).
	Ready time.Duration
}

// NodeName is the Node a VM's daemon registers: the lab's name and the VM's,
// so nodes of two labs never share a name or a cgroup.
func (l *Lab) NodeName(vm string) string { return l.state.Config.Name + "-" + vm }

// KubeconfigPath is where StartCluster writes the cluster's kubeconfig.
func (l *Lab) KubeconfigPath() string { return filepath.Join(l.Dir(), "kubeconfig") }

// machines are the VMs that run Skiff (all but the registry's).
func (l *Lab) machines() []VM {
	var out []VM
	for _, vm := range l.state.VMs {
		if vm.Name != RegistryVM {
			out = append(out, vm)
		}
	}
	return out
}

// StartCluster starts Skiff in the VMs: the first cfg.Servers run servers
// with a node each (one Raft cluster), the others node daemons; it waits
// until every node is Ready and writes the kubeconfig (KubeconfigPath).
// Processes that already run are left alone, so it is safe to repeat.
func (l *Lab) StartCluster(ctx context.Context, cfg ClusterConfig) (*rest.Config, error) {
	vms := l.machines()
	if cfg.Servers <= 0 || cfg.Servers > len(vms) {
		cfg.Servers = len(vms)
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	if cfg.BootstrapExpect <= 0 {
		cfg.BootstrapExpect = cfg.Servers
	}
	start := cfg.Start
	if start <= 0 || start > len(vms) {
		start = len(vms)
	}
	if cfg.Ready <= 0 {
		cfg.Ready = 3 * time.Minute
	}
	bin, err := filepath.Abs(cfg.Binary)
	if err != nil {
		return nil, err
	}
	var peers []string
	for _, vm := range vms[:cfg.Servers] {
		peers = append(peers, fmt.Sprintf("%s=%s", vm.Name, hostPort(vm, RaftPort)))
	}
	serverDir := func(vm VM) string { return filepath.Join(l.VMDir(vm.Name), "server") }
	token, err := l.joinToken()
	if err != nil {
		return nil, err
	}
	seed := hostPort(vms[0], SerfPort) // everyone joins the first server's gossip
	nodeFlags := func(vm VM) []string {
		return []string{
			"--node-name", l.NodeName(vm.Name), "--node-ip", vm.Addr.Addr().String(),
			"--registry-mirror", l.RegistryAddr(), "--log-level", cfg.LogLevel,
		}
	}
	running := func(vm VM, name string) bool {
		ps, _ := l.Processes(vm.Name)
		for _, p := range ps {
			if p.Name == name && p.Running {
				return true
			}
		}
		return false
	}
	for _, vm := range vms[:min(cfg.Servers, start)] {
		if running(vm, "skiff") {
			continue
		}
		argv := append([]string{bin, "server", "--name", vm.Name, "--data-dir", serverDir(vm),
			"--raft-addr", hostPort(vm, RaftPort), "--client-addr", hostPort(vm, ClientPort), "--api-addr", hostPort(vm, APIPort),
			"--with-node", "--wasm-cache", wasmCache(),
			"--serf-addr", hostPort(vm, SerfPort), "--join", seed, "--join-token", token}, nodeFlags(vm)...)
		if cfg.StaticPeers {
			argv = append(argv, "--peers", strings.Join(peers, ","))
		} else {
			argv = append(argv, "--bootstrap-expect", strconv.Itoa(cfg.BootstrapExpect))
		}
		if cfg.DeadServerCleanup > 0 {
			argv = append(argv, "--dead-server-cleanup", cfg.DeadServerCleanup.String())
		}
		if err := l.Start(ctx, vm.Name, "skiff", argv, nil); err != nil {
			return nil, err
		}
	}
	first := vms[0]
	kubeconfig := filepath.Join(serverDir(first), "kubeconfig")
	if err := waitFile(ctx, kubeconfig, time.Minute); err != nil {
		return nil, fmt.Errorf("lab: the first server wrote no kubeconfig (see %s): %w", l.LogPath(first.Name, "skiff"), err)
	}
	raw, err := os.ReadFile(kubeconfig)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(l.KubeconfigPath(), raw, 0o600); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	for _, vm := range vms[min(cfg.Servers, start):start] {
		if running(vm, "skiff") {
			continue
		}
		// A node gets its own credential from the first server with the join token.
		argv := append([]string{bin, "node", "--data-dir", filepath.Join(l.VMDir(vm.Name), "node"), "--server", "https://" + hostPort(first, APIPort),
			"--join", seed, "--join-token", token}, nodeFlags(vm)...)
		if err := l.Start(ctx, vm.Name, "skiff", argv, nil); err != nil {
			return nil, err
		}
	}
	rc, err := clientcmd.BuildConfigFromFlags("", l.KubeconfigPath())
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	want := make([]string, start)
	for i, vm := range vms[:start] {
		want[i] = l.NodeName(vm.Name)
	}
	if err := waitNodesReady(ctx, client, want, cfg.Ready); err != nil {
		var logs []string
		for _, vm := range vms {
			logs = append(logs, l.LogPath(vm.Name, "skiff"))
		}
		return nil, fmt.Errorf("lab: %w (logs: %s)", err, strings.Join(logs, " "))
	}
	// Clients of the lab's kubeconfig fail over between every server's API.
	var apis []string
	for _, vm := range vms[:min(cfg.Servers, start)] {
		apis = append(apis, hostPort(vm, APIPort))
	}
	if _, err := apiclient.UpdateKubeconfig(l.KubeconfigPath(), apis); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return rc, nil
}

// wasmCache is where the lab's servers keep compiled policy modules, shared
// by every server and kept across labs (compiling them takes seconds).
func wasmCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "skiff", "wasm")
}

// joinToken is the lab's cluster join token, made once and kept in its
// directory.
// JoinToken is the cluster's join token the lab gives every process (made on first use and
// kept in the lab's directory): clients of the servers' etcd port prove it with a peer
// certificate (pki.PeerTLS).
func (l *Lab) JoinToken() (string, error) { return l.joinToken() }

func (l *Lab) joinToken() (string, error) {
	path := filepath.Join(l.Dir(), "join-token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	return token, nil
}

func hostPort(vm VM, port int) string {
	return net.JoinHostPort(vm.Addr.Addr().String(), fmt.Sprint(port))
}

func waitFile(ctx context.Context, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitNodesReady waits until every named node reports Ready.
func waitNodesReady(ctx context.Context, client kubernetes.Interface, names []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var missing []string
	for {
		missing = missing[:0]
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		ready := map[string]bool{}
		if err == nil {
			for _, n := range list.Items {
				for _, c := range n.Status.Conditions {
					if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && n.Spec.PodCIDR != "" {
						ready[n.Name] = true
					}
				}
			}
		}
		for _, n := range names {
			if !ready[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(missing)
			return fmt.Errorf("nodes not Ready: %s (last error: %v)", strings.Join(missing, ", "), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// removeCgroups removes the cgroups the lab's node daemons made for their
// pods (/<controller>/skiff/<node>), deepest first; the processes in them
// are gone by then.
func (l *Lab) removeCgroups() error {
	var errs []error
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/skiff")
	if unified := "/sys/fs/cgroup/skiff"; dirExists(unified) {
		roots = append(roots, unified)
	}
	for _, root := range roots {
		for _, vm := range l.machines() {
			dir := filepath.Join(root, l.NodeName(vm.Name))
			if !dirExists(dir) {
				continue
			}
			var dirs []string
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error { //nolint:errcheck // a vanished dir is fine
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			// The pods' processes live in these cgroups (not in the VMs'
			// namespaces): kill what is left of them.
			if err := killCgroupProcs(dirs, 5*time.Second); err != nil {
				errs = append(errs, err)
			}
			for i := len(dirs) - 1; i >= 0; i-- {
				if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, fmt.Errorf("lab: removing cgroup %s: %w", dirs[i], err))
				}
			}
		}
		os.Remove(root) // only when no other node's cgroups are left
	}
	return errors.Join(errs...)
}

// killCgroupProcs kills every process in the cgroups and waits until they
// are empty.
func killCgroupProcs(dirs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var left []int
		for _, d := range dirs {
			raw, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(raw)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					left = append(left, pid)
				}
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: processes %v outlived SIGKILL in the pods' cgroups", left)
		}
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck // gone already is fine
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
