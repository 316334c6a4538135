//go:build integration

package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// procCluster is a cluster of `skiff server` processes on loopback.
type procCluster struct {
	bin     string
	dir     string
	peers   string
	members []*memberProc
}

// memberProc is one member; it keeps its flags, data directory and log
// file across restarts.
type memberProc struct {
	name                 string
	raftAddr, clientAddr string
	dataDir, logPath     string
	starts               int

	cmd     *exec.Cmd
	done    chan struct{} // closed once the process is reaped
	waitErr error         // valid once done is closed
	killed  bool
}

// startProcCluster starts n members with fresh data directories. At
// cleanup, every process still running is killed, and on failure the tail
// of each member's log is shown.
func startProcCluster(t *testing.T, bin string, n int) *procCluster {
	t.Helper()
	c := &procCluster{bin: bin, dir: t.TempDir()}
	addrs := freeAddrs(t, 2*n)
	var peers []string
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		m := &memberProc{
			name:       name,
			raftAddr:   addrs[2*i],
			clientAddr: addrs[2*i+1],
			dataDir:    filepath.Join(c.dir, name),
			logPath:    filepath.Join(c.dir, name+".log"),
		}
		c.members = append(c.members, m)
		peers = append(peers, name+"="+m.raftAddr)
	}
	c.peers = strings.Join(peers, ",")
	t.Cleanup(func() {
		var running []*memberProc
		for _, m := range c.members {
			if m.cmd != nil && !m.exited() {
				running = append(running, m)
			}
		}
		c.kill(t, running...)
		if t.Failed() {
			for _, m := range c.members {
				t.Logf("--- %s (%s), last %d log lines ---\n%s", m.name, m.clientAddr, crashLogTail, m.tail(crashLogTail))
			}
		}
		if pids := processesWith(t, c.dir); len(pids) > 0 {
			t.Errorf("processes survive the test: %v", pids)
			for _, p := range pids {
				if pid, err := strconv.Atoi(strings.SplitN(p, ":", 2)[0]); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	})
	for _, m := range c.members {
		c.start(t, m)
	}
	return c
}

// start runs m in its own process group, appending its output to its log.
func (c *procCluster) start(t *testing.T, m *memberProc) {
	t.Helper()
	if m.cmd != nil && !m.exited() {
		t.Fatalf("start %s: still running as pid %d", m.name, m.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	m.starts++
	fmt.Fprintf(logf, "=== start %d at %s ===\n", m.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.bin, "server",
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--raft-addr", m.raftAddr,
		"--client-addr", m.clientAddr,
		"--api-addr", "127.0.0.1:0",
		"--serf-addr", "off", // several members on one loopback
		"--peers", c.peers,
		// Snapshot often, keep a short log after each: restarts then
		// restore from a snapshot plus a log suffix, and a member that was
		// down catches up by snapshot install rather than log replay.
		"--snapshot-threshold", "2048",
		"--snapshot-interval", "300ms",
		"--trailing-logs", "256",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", m.name, err)
	}
	m.cmd, m.done, m.waitErr, m.killed = cmd, make(chan struct{}), nil, false
	go func(done chan struct{}) {
		m.waitErr = cmd.Wait()
		close(done)
	}(m.done)
}

// kill sends SIGKILL to the process groups of ms back to back, then waits
// until each is reaped.
func (c *procCluster) kill(t testing.TB, ms ...*memberProc) {
	t.Helper()
	for _, m := range ms {
		m.killed = true
		if err := syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("kill process group %d of %s: %v", m.cmd.Process.Pid, m.name, err)
		}
	}
	for _, m := range ms {
		select {
		case <-m.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) not reaped 10s after SIGKILL", m.name, m.cmd.Process.Pid)
		}
	}
}

func (m *memberProc) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// checkAlive fails the test if a member the test did not kill has exited.
func (c *procCluster) checkAlive(t *testing.T) {
	t.Helper()
	for _, m := range c.members {
		if !m.killed && m.exited() {
			t.Fatalf("%s exited unexpectedly: %v", m.name, m.waitErr)
		}
	}
}

// client is an etcd client of one member that logs nothing.
func (c *procCluster) client(m *memberProc) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.clientAddr}, Logger: zap.NewNop()})
	if err != nil {
		panic(fmt.Sprintf("etcd client for %s: %v", m.clientAddr, err)) // New fails only on bad options
	}
	return cli
}

// waitLeader waits until the Maintenance Status of every one of ms names
// the same leader, one of ms, and returns how long that took.
func (c *procCluster) waitLeader(t *testing.T, timeout time.Duration, ms ...*memberProc) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	// Wait for the client ports first: a client dialling a port that is not
	// yet open backs off for a second or more.
	for _, m := range ms {
		for !m.listening() {
			c.checkAlive(t)
			if ctx.Err() != nil {
				t.Fatalf("%s not listening on %s after %v", m.name, m.clientAddr, timeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	clis := make([]*clientv3.Client, len(ms))
	for i, m := range ms {
		clis[i] = c.client(m)
		defer clis[i].Close()
	}
	var last []string
	for {
		c.checkAlive(t)
		leaders, ids := map[uint64]bool{}, map[uint64]bool{}
		last = last[:0]
		for i, m := range ms {
			sctx, scancel := context.WithTimeout(ctx, time.Second)
			st, err := clis[i].Status(sctx, m.clientAddr)
			scancel()
			switch {
			case err != nil:
				last = append(last, fmt.Sprintf("%s: %v", m.name, err))
			case st.Leader == 0:
				last = append(last, m.name+": no leader")
			default:
				leaders[st.Leader] = true
				ids[st.Header.MemberId] = true
			}
		}
		// A follower names a dead leader until its heartbeat timeout.
		if len(last) == 0 && len(leaders) == 1 && ids[slices.Collect(maps.Keys(leaders))[0]] {
			return time.Since(start)
		}
		if ctx.Err() != nil {
			t.Fatalf("no leader agreed on after %v: %v (leaders %v)", timeout, last, slices.Collect(maps.Keys(leaders)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leader is the member whose Status names itself leader.
func (c *procCluster) leader(t *testing.T) *memberProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		for _, m := range c.members {
			cli := c.client(m)
			st, err := cli.Status(ctx, m.clientAddr)
			cli.Close()
			if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no member reports itself leader")
	return nil
}

func (m *memberProc) listening() bool {
	conn, err := (&net.Dialer{Timeout: 100 * time.Millisecond}).Dial("tcp", m.clientAddr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// tail is the last n lines of the member's log, across its restarts.
func (m *memberProc) tail(n int) string {
	b, err := os.ReadFile(m.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// logLogSummary reports each member's warnings and errors by message, and
// fails on a panic.
func (c *procCluster) logLogSummary(t *testing.T) {
	t.Helper()
	for _, m := range c.members {
		f, err := os.Open(m.logPath)
		if err != nil {
			t.Errorf("open %s log: %v", m.name, err)
			continue
		}
		counts := map[string]int{}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if bytes.HasPrefix(line, []byte("panic:")) || bytes.HasPrefix(line, []byte("fatal error:")) {
				t.Errorf("%s: %s", m.name, line)
			}
			lvl := logField(line, "level")
			if lvl == "WARN" || lvl == "ERROR" {
				counts[lvl+" "+logField(line, "msg")]++
			}
		}
		f.Close()
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(counts)) {
			fmt.Fprintf(&b, "\n  %4d × %s", counts[k], k)
		}
		t.Logf("%s log (%d starts), warnings and errors:%s", m.name, m.starts, b.String())
	}
}

// logField extracts key=value or key="quoted value" from a slog text line.
func logField(line []byte, key string) string {
	i := bytes.Index(line, []byte(" "+key+"="))
	if i < 0 {
		return ""
	}
	rest := string(line[i+len(key)+2:])
	if strings.HasPrefix(rest, `"`) {
		if s, err := strconv.QuotedPrefix(rest); err == nil {
			u, _ := strconv.Unquote(s)
			return u
		}
	}
	if j := strings.IndexByte(rest, ' '); j >= 0 {
		return rest[:j]
	}
	return rest
}

// processesWith lists processes whose command line contains s.
func processesWith(t *testing.T, s string) []string {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		if strings.Contains(string(b), s) {
			pids = append(pids, filepath.Base(filepath.Dir(p))+": "+strings.ReplaceAll(string(bytes.TrimRight(b, "\x00")), "\x00", " "))
		}
	}
	return pids
}
