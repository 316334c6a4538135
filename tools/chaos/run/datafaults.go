package run

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// The data faults of labTarget: damage to a stopped server's raft data,
// and a full disk under a server (the lab's data disks, mounted by Run
// before the servers first start).

// startBound bounds the wait for a started server to serve or exit.
const startBound = 45 * time.Second

// running reports whether vm's skiff process runs, and its pid.
func (t *labTarget) running(vm string) (bool, int) {
	ps, err := t.lab.Processes(vm)
	if err != nil {
		return false, 0
	}
	for _, p := range ps {
		if p.Name == "skiff" {
			return p.Running, p.Pid
		}
	}
	return false, 0
}

// serving reports whether vm's server answers on its etcd endpoint and
// names a leader.
func (t *labTarget) serving(ctx context.Context, vm string) bool {
	c, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := t.etcd[vm].Status(c, t.endpoint(vm))
	return err == nil && st.Leader != 0
}

func (t *labTarget) CorruptData(_ context.Context, vm string, pick uint64) (string, error) {
	d, err := t.lab.CorruptRaft(vm, pick)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// Start starts vm's stopped server (StartCluster starts what does not
// run) and watches it, not the whole cluster: until it serves, or its
// process is gone.
func (t *labTarget) Start(ctx context.Context, vm string) (string, error) {
	logPath := t.lab.LogPath(vm, "skiff")
	var logFrom int64
	if st, err := os.Stat(logPath); err == nil {
		logFrom = st.Size()
	}
	_, oldPid := t.running(vm)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	started := make(chan error, 1)
	go func() {
		_, err := t.lab.StartCluster(sctx, t.cc)
		started <- err
	}()
	outcome := ""
	err := poll(ctx, startBound, 100*time.Millisecond, func() (bool, error) {
		up, pid := t.running(vm)
		switch {
		case pid == oldPid: // not started yet
			select {
			case err := <-started:
				started <- err
				if err != nil && pid == oldPid {
					return false, fmt.Errorf("run: starting %s: %w", vm, err)
				}
			default:
			}
			return false, nil
		case !up:
			outcome = "exited: " + lastError(logPath, logFrom)
			return true, nil
		case t.serving(ctx, vm):
			outcome = "serves"
			return true, nil
		}
		return false, nil
	})
	stop()
	<-started
	if err != nil && outcome == "" {
		if up, pid := t.running(vm); up && pid != oldPid {
			return fmt.Sprintf("runs, but serves no leader within %s", startBound), nil
		}
		return "", err
	}
	return outcome, nil
}

// lastError is the line of a server's log (written from offset from on)
// that says why it stopped: a panic, else the last error, else the last
// line.
func lastError(path string, from int64) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if from <= int64(len(raw)) {
		raw = raw[from:]
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	pick := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") {
			pick = l
			break
		}
	}
	for i := len(lines) - 1; pick == "" && i >= 0; i-- {
		if bytes.Contains(bytes.ToLower([]byte(lines[i])), []byte("error")) {
			pick = lines[i]
		}
	}
	if pick == "" && len(lines) > 0 {
		pick = lines[len(lines)-1]
	}
	if len(pick) > 300 {
		pick = pick[:300] + "…"
	}
	return strings.TrimSpace(pick)
}

// Rejoin leaves a serving server alone; any other loses its raft data
// and starts again, to rejoin from its peers (the leader still counts it
// a member and sends it a snapshot).
func (t *labTarget) Rejoin(ctx context.Context, vm string) (string, error) {
	if up, _ := t.running(vm); up {
		if poll(ctx, 10*time.Second, 250*time.Millisecond, func() (bool, error) { return t.serving(ctx, vm), nil }) == nil {
			return "serving", nil
		}
		if err := t.Kill(ctx, vm); err != nil {
			return "", err
		}
	}
	if err := t.lab.WipeRaft(vm); err != nil {
		return "", err
	}
	if err := t.Restart(ctx, vm); err != nil {
		return "raft data wiped", fmt.Errorf("run: restarting %s with its raft data wiped: %w", vm, err)
	}
	return "raft data wiped, rejoined", nil
}

func (t *labTarget) FillDisk(_ context.Context, vm string) (string, error) {
	n, err := t.lab.FillDisk(vm)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d MiB written until ENOSPC", n>>20), nil
}

// FreeDisk frees vm's disk and restarts its server if the full disk
// stopped it.
func (t *labTarget) FreeDisk(ctx context.Context, vm string) (string, error) {
	if err := t.lab.FreeDisk(vm); err != nil {
		return "", err
	}
	if up, _ := t.running(vm); up {
		return "the server kept running", nil
	}
	why := lastError(t.lab.LogPath(vm, "skiff"), 0)
	if err := t.Restart(ctx, vm); err != nil {
		return "the server had stopped (" + why + ")", fmt.Errorf("run: restarting %s after its disk was freed: %w", vm, err)
	}
	return "the server had stopped (" + why + "); restarted", nil
}
