//go:build integration

package etcdapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// etcdctlPath is Debian's etcdctl 3.4 (package etcd-client).
const etcdctlPath = "/usr/bin/etcdctl"

// etcdctl runs one etcdctl command against endpoints and returns its
// standard output; stdin may be empty.
func etcdctl(t *testing.T, endpoints []string, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdctlPath, append([]string{
		"--endpoints=" + strings.Join(endpoints, ","),
		"--dial-timeout=5s",
		"--command-timeout=10s",
	}, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("etcdctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// mustEtcdctl is etcdctl that fails the test on error.
func mustEtcdctl(t *testing.T, endpoints []string, stdin string, args ...string) string {
	t.Helper()
	out, err := etcdctl(t, endpoints, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func expectOutput(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestEtcdctl(t *testing.T) {
	if _, err := os.Stat(etcdctlPath); err != nil {
		t.Skipf("etcdctl not installed (apt-get install etcd-client): %v", err)
	}
	checkGoroutines(t)
	c := newCluster(t)
	leader := c.Leader()
	follower := []string{c.urls[c.follower(t)]}
	all := c.urls

	// Writes through a follower are forwarded to the leader.
	expectOutput(t, "put foo/a", mustEtcdctl(t, follower, "", "put", "foo/a", "1"), "OK\n")
	expectOutput(t, "put foo/b", mustEtcdctl(t, follower, "", "put", "foo/b", "2"), "OK\n")
	expectOutput(t, "put other", mustEtcdctl(t, follower, "", "put", "other", "3"), "OK\n")
	expectOutput(t, "get --prefix foo/", mustEtcdctl(t, follower, "", "get", "--prefix", "foo/"), "foo/a\n1\nfoo/b\n2\n")

	var got struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
		Kvs []struct {
			ModRevision int64 `json:"mod_revision"`
		} `json:"kvs"`
	}
	if err := json.Unmarshal([]byte(mustEtcdctl(t, follower, "", "get", "foo/a", "-w", "json")), &got); err != nil || len(got.Kvs) != 1 {
		t.Fatalf("get foo/a -w json: %+v, %v", got, err)
	}
	revA := got.Kvs[0].ModRevision

	// A compare-and-swap transaction, fed on standard input: compares, a
	// blank line, success operations, a blank line, failure operations.
	txn := fmt.Sprintf("mod(\"foo/a\") = \"%d\"\n\nput foo/a swapped\n\nget foo/a\n\n", revA)
	expectOutput(t, "txn at the current mod revision", mustEtcdctl(t, follower, txn, "txn"), "SUCCESS\n\nOK\n")
	expectOutput(t, "txn at a stale mod revision", mustEtcdctl(t, follower, txn, "txn"), "FAILURE\n\nfoo/a\nswapped\n")

	// Watch history from a revision, in the background.
	watchOut := startWatch(t, follower, "watch", "--rev="+strconv.FormatInt(revA, 10), "--prev-kv", "foo/a")
	expectOutput(t, "watch --rev", watchOut.lines(t, 8), "PUT\nfoo/a\n1\nPUT\nfoo/a\n1\nfoo/a\nswapped\n")

	// Leases: grant, attach, keep alive once, inspect, revoke.
	grant := mustEtcdctl(t, follower, "", "lease", "grant", "60")
	m := regexp.MustCompile(`^lease ([0-9a-f]+) granted with TTL\(60s\)\n$`).FindStringSubmatch(grant)
	if m == nil {
		t.Fatalf("lease grant 60: %q", grant)
	}
	id := m[1]
	expectOutput(t, "put --lease", mustEtcdctl(t, follower, "", "put", "--lease="+id, "leased", "v"), "OK\n")
	expectOutput(t, "lease keep-alive --once", mustEtcdctl(t, follower, "", "lease", "keep-alive", "--once", id),
		fmt.Sprintf("lease %s keepalived with TTL(60)\n", id))
	ttl := mustEtcdctl(t, follower, "", "lease", "timetolive", "--keys", id)
	if !regexp.MustCompile(`^lease ` + id + ` granted with TTL\(60s\), remaining\((59|60)s\), attached keys\(\[leased\]\)\n$`).MatchString(ttl) {
		t.Fatalf("lease timetolive --keys: %q", ttl)
	}
	expectOutput(t, "lease list", mustEtcdctl(t, follower, "", "lease", "list"), fmt.Sprintf("found 1 leases\n%s\n", id))
	expectOutput(t, "lease revoke", mustEtcdctl(t, follower, "", "lease", "revoke", id), fmt.Sprintf("lease %s revoked\n", id))
	expectOutput(t, "get leased after revoke", mustEtcdctl(t, follower, "", "get", "leased"), "")
	expectOutput(t, "lease timetolive after revoke", mustEtcdctl(t, follower, "", "lease", "timetolive", id),
		fmt.Sprintf("lease %s already expired\n", id))

	// Membership, as etcd prints it.
	var members []string
	for _, line := range strings.Split(strings.TrimSpace(mustEtcdctl(t, follower, "", "member", "list")), "\n") {
		f := strings.Split(line, ", ")
		if len(f) != 6 {
			t.Fatalf("member list line %q", line)
		}
		members = append(members, strings.Join([]string{f[1], f[2], f[4], f[5]}, " "))
	}
	var wantMembers []string
	for i, nd := range c.Nodes {
		wantMembers = append(wantMembers, fmt.Sprintf("started %s %s false", nd.Name, c.urls[i]))
	}
	slices.Sort(members)
	slices.Sort(wantMembers)
	expectOutput(t, "member list", strings.Join(members, "\n"), strings.Join(wantMembers, "\n"))

	// Endpoint status, as JSON, from every member.
	c.WaitConverged(5 * time.Second)
	var statuses []struct {
		Endpoint string
		Status   struct {
			Header struct {
				MemberID uint64 `json:"member_id"`
				Revision int64  `json:"revision"`
			} `json:"header"`
			Version          string `json:"version"`
			DBSize           int64  `json:"dbSize"`
			Leader           uint64 `json:"leader"`
			RaftIndex        uint64 `json:"raftIndex"`
			RaftTerm         uint64 `json:"raftTerm"`
			RaftAppliedIndex uint64 `json:"raftAppliedIndex"`
		}
	}
	statusJSON := mustEtcdctl(t, all, "", "endpoint", "status", "-w", "json")
	if err := json.Unmarshal([]byte(statusJSON), &statuses); err != nil || len(statuses) != 3 {
		t.Fatalf("endpoint status -w json: %v\n%s", err, statusJSON)
	}
	for i, st := range statuses {
		s := st.Status
		if st.Endpoint != c.urls[i] || s.Header.MemberID != c.Nodes[i].Store().ID() || s.Leader != c.Nodes[leader].Store().ID() ||
			s.Version != Version || s.RaftTerm == 0 || s.RaftIndex == 0 || s.RaftAppliedIndex == 0 || s.DBSize <= 0 {
			t.Errorf("endpoint status of %s: %+v", c.Nodes[i].Name, st)
		}
	}
	table := mustEtcdctl(t, all, "", "endpoint", "status", "-w", "table")
	if strings.Count(table, Version) != 3 || len(regexp.MustCompile(`\|\s+true\s+\|`).FindAllString(table, -1)) != 1 {
		t.Errorf("endpoint status -w table: want 3 members at %s, 1 leader:\n%s", Version, table)
	}
	t.Logf("endpoint status:\n%s", table)

	// Compaction: a read below it fails with etcd's message.
	expectOutput(t, "compaction", mustEtcdctl(t, follower, "", "compaction", strconv.FormatInt(revA+1, 10)),
		fmt.Sprintf("compacted revision %d\n", revA+1))
	c.WaitConverged(5 * time.Second)
	out, err := etcdctl(t, follower, "", "get", "--rev="+strconv.FormatInt(revA, 10), "foo/a")
	if err == nil || !strings.Contains(err.Error(), "etcdserver: mvcc: required revision has been compacted") {
		t.Fatalf("get --rev below the compaction: %q, %v; want the compacted error", out, err)
	}
	expectOutput(t, "get --rev at the compaction", mustEtcdctl(t, follower, "", "get", "--rev="+strconv.FormatInt(revA+1, 10), "foo/a"), "foo/a\n1\n")
}

// watchProcess is an etcdctl watch running in the background.
type watchProcess struct {
	out  chan string
	stop func()
}

// startWatch starts etcdctl watch; it is killed at cleanup.
func startWatch(t *testing.T, endpoints []string, args ...string) *watchProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	cmd := exec.CommandContext(ctx, etcdctlPath, append([]string{"--endpoints=" + strings.Join(endpoints, ",")}, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("etcdctl watch: %v", err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcdctl watch: %v", err)
	}
	w := &watchProcess{out: make(chan string, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(w.out)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.out <- sc.Text()
		}
	}()
	w.stop = func() {
		cancel()
		<-done
		_ = cmd.Wait()
	}
	t.Cleanup(w.stop)
	return w
}

// lines waits for n lines of output and returns them, newline-terminated.
func (w *watchProcess) lines(t *testing.T, n int) string {
	t.Helper()
	var got []string
	timeout := time.After(15 * time.Second)
	for len(got) < n {
		select {
		case line, ok := <-w.out:
			if !ok {
				t.Fatalf("etcdctl watch exited after %q", got)
			}
			got = append(got, line)
		case <-timeout:
			t.Fatalf("etcdctl watch: %d of %d lines within 15s: %q", len(got), n, got)
		}
	}
	return strings.Join(got, "\n") + "\n"
}
