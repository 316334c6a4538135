package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/tools/chaos/fault"
	"github.com/skiff-sh/skiff/tools/lab"
)

// labTarget is fault.Target on a lab whose every server VM runs
// `skiff server --with-node`.
type labTarget struct {
	lab     *lab.Lab
	cc      lab.ClusterConfig
	servers []string
	etcd    map[string]*clientv3.Client // by VM
	kube    kubernetes.Interface
	probe   string // the key probe writes go to

	mu   sync.Mutex
	ids  map[string]uint64 // member ID by VM name
	next atomic.Uint64
}

var _ fault.Target = (*labTarget)(nil)

func (t *labTarget) Servers() []string { return append([]string(nil), t.servers...) }

// endpoint is the etcd endpoint of vm's server.
func (t *labTarget) endpoint(vm string) string {
	v, _ := t.lab.VM(vm)
	return fmt.Sprintf("%s:%d", v.Addr.Addr(), lab.ClientPort)
}

// memberIDs learns the members' IDs by name, once.
func (t *labTarget) memberIDs(ctx context.Context) (map[string]uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids != nil {
		return t.ids, nil
	}
	var errs []error
	for _, vm := range t.servers {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := t.etcd[vm].MemberList(c)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids := map[string]uint64{}
		for _, m := range resp.Members {
			ids[m.Name] = m.ID
		}
		t.ids = ids
		return ids, nil
	}
	return nil, fmt.Errorf("run: member list: %w", errors.Join(errs...))
}

// leaders asks every server whom it follows: VM name by asking VM, for
// those that answered.
func (t *labTarget) leaders(ctx context.Context) map[string]string {
	ids, err := t.memberIDs(ctx)
	if err != nil {
		return nil
	}
	byID := map[uint64]string{}
	for n, id := range ids {
		byID[id] = n
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]string{}
	for _, vm := range t.servers {
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			st, err := t.etcd[vm].Status(c, t.endpoint(vm))
			if err != nil || st.Leader == 0 || byID[st.Leader] == "" {
				return
			}
			mu.Lock()
			out[vm] = byID[st.Leader]
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// Leader is the leader a majority of the servers name.
func (t *labTarget) Leader(ctx context.Context) (string, error) {
	votes := map[string]int{}
	for _, l := range t.leaders(ctx) {
		votes[l]++
	}
	for l, n := range votes {
		if n > len(t.servers)/2 {
			return l, nil
		}
	}
	return "", fmt.Errorf("run: no leader named by a majority of %v (answers %v)", t.servers, votes)
}

// agreed reports whether every server answers and names the same leader.
func (t *labTarget) agreed(ctx context.Context) bool {
	ls := t.leaders(ctx)
	if len(ls) != len(t.servers) {
		return false
	}
	first := ""
	for _, l := range ls {
		if first != "" && l != first {
			return false
		}
		first = l
	}
	return true
}

// write probes for availability: one put through some server.
func (t *labTarget) write(ctx context.Context) error {
	vm := t.servers[int(t.next.Add(1)%uint64(len(t.servers)))]
	c, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := t.etcd[vm].Put(c, t.probe, strconv.FormatInt(time.Now().UnixNano(), 10))
	return err
}

func (t *labTarget) Kill(ctx context.Context, vm string) error {
	if err := t.lab.Stop(vm, "skiff", syscall.SIGKILL); err != nil {
		return err
	}
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return t.lab.Wait(c, vm, "skiff")
}

func (t *labTarget) Restart(ctx context.Context, vm string) error {
	_, err := t.lab.StartCluster(ctx, t.cc)
	return err
}

func (t *labTarget) Pause(vm string) error  { return t.lab.Stop(vm, "skiff", syscall.SIGSTOP) }
func (t *labTarget) Resume(vm string) error { return t.lab.Stop(vm, "skiff", syscall.SIGCONT) }

func (t *labTarget) Isolate(vm string) error          { return t.lab.Isolate(vm) }
func (t *labTarget) CutLinks(links ...lab.Link) error { return t.lab.CutLinks(links...) }
func (t *labTarget) HealNetwork(vms ...string) error {
	var errs []error
	for _, vm := range vms {
		errs = append(errs, t.lab.Heal(vm))
	}
	return errors.Join(errs...)
}

// containerdPids lists the containerd daemons in vm's namespace (not shims).
func (t *labTarget) containerdPids(vm string) ([]int, error) {
	v, err := t.lab.VM(vm)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("run: listing processes: %w", err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "containerd" {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil || st.Ino != v.NetnsIno {
			continue
		}
		out = append(out, pid)
	}
	return out, nil
}

func (t *labTarget) KillContainerd(ctx context.Context, vm string) (int, error) {
	pids, err := t.containerdPids(vm)
	if err != nil {
		return 0, err
	}
	if len(pids) != 1 {
		return 0, fmt.Errorf("run: %d containerd processes in %s (%v), want one", len(pids), vm, pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("run: killing containerd %d in %s: %w", pids[0], vm, err)
	}
	return pids[0], nil
}

func (t *labTarget) ContainerdBack(ctx context.Context, vm string, old int) error {
	return poll(ctx, time.Minute, 200*time.Millisecond, func() (bool, error) {
		pids, err := t.containerdPids(vm)
		return len(pids) == 1 && pids[0] != old, err
	})
}

func (t *labTarget) TransferLeader(ctx context.Context, to string) error {
	leader, err := t.Leader(ctx)
	if err != nil {
		return err
	}
	ids, err := t.memberIDs(ctx)
	if err != nil {
		return err
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := t.etcd[leader].MoveLeader(c, ids[to]); err != nil {
		return fmt.Errorf("run: move leader %s → %s: %w", leader, to, err)
	}
	return poll(c, 10*time.Second, 50*time.Millisecond, func() (bool, error) {
		l, _ := t.Leader(c)
		return l == to, nil
	})
}

// healthy reports what is unhealthy, or nil: every server process runs,
// every server names the same leader, a write succeeds, every node is Ready.
func (t *labTarget) healthy(ctx context.Context) error {
	for _, vm := range t.servers {
		ps, err := t.lab.Processes(vm)
		if err != nil {
			return err
		}
		running := false
		for _, p := range ps {
			running = running || (p.Name == "skiff" && p.Running)
		}
		if !running {
			return fmt.Errorf("skiff is not running in %s", vm)
		}
	}
	if !t.agreed(ctx) {
		return fmt.Errorf("the servers do not agree on a leader: %v", t.leaders(ctx))
	}
	if err := t.write(ctx); err != nil {
		return fmt.Errorf("probe write: %w", err)
	}
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nodes, err := t.kube.CoreV1().Nodes().List(c, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	for _, n := range nodes.Items {
		ready := false
		for _, cd := range n.Status.Conditions {
			ready = ready || (cd.Type == corev1.NodeReady && cd.Status == corev1.ConditionTrue)
		}
		if !ready {
			return fmt.Errorf("node %s is not Ready", n.Name)
		}
	}
	return nil
}

// waitHealthy waits until healthy, at most bound; the error is the last
// thing found unhealthy.
func (t *labTarget) waitHealthy(ctx context.Context, bound time.Duration) error {
	var last error
	err := poll(ctx, bound, 250*time.Millisecond, func() (bool, error) {
		last = t.healthy(ctx)
		return last == nil, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("not healthy within %s: %w", bound, last)
	}
	return err
}

// recovery measures, from start, until every server names the same leader
// and until the first probe write succeeds; -1 for what did not happen
// within bound.
func (t *labTarget) recovery(ctx context.Context, start time.Time, bound time.Duration) (election, firstWrite time.Duration) {
	election, firstWrite = -1, -1
	_ = poll(ctx, bound, 20*time.Millisecond, func() (bool, error) {
		if firstWrite < 0 && t.write(ctx) == nil {
			firstWrite = time.Since(start)
		}
		if election < 0 && t.agreed(ctx) {
			election = time.Since(start)
		}
		return election >= 0 && firstWrite >= 0, nil
	})
	return election, firstWrite
}

// poll calls f every interval until it is done, fails, ctx ends or bound
// passes.
func poll(ctx context.Context, bound, interval time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for {
		done, err := f()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("run: not within %s: %w", bound, ctx.Err())
		case <-time.After(interval):
		}
	}
}
