//go:build integration

package network

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// testNetns creates a throwaway network namespace bind-mounted under a temporary directory and
// removes it when the test ends (the kernel then deletes every link in it).
func testNetns(t *testing.T, name string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	path := filepath.Join(t.TempDir(), name)
	if err := createNetns(path); err != nil {
		t.Fatalf("creating test netns: %v", err)
	}
	t.Cleanup(func() {
		if err := removeNetns(path); err != nil {
			t.Errorf("removing test netns %s: %v", path, err)
		}
	})
	return path
}

func openNS(t *testing.T, path string) netns.NsHandle {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatalf("opening netns %s: %v", path, err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func handleAt(t *testing.T, path string) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(openNS(t, path), unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", path, err)
	}
	t.Cleanup(h.Close)
	return h
}

// addUplink gives the namespace at path an uplink with addr and the MTU given: a veth whose
// peer sits in a throwaway namespace (this kernel has no dummy links).
func addUplink(t *testing.T, path, name string, addr netip.Prefix, mtu int) {
	t.Helper()
	h := handleAt(t, path)
	peer := openNS(t, testNetns(t, "upstream"))
	l := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}, PeerName: name, PeerNamespace: netlink.NsFd(peer)}
	if err := h.LinkAdd(l); err != nil {
		t.Fatalf("adding %s: %v", name, err)
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
		t.Fatalf("addressing %s: %v", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatalf("setting %s up: %v", name, err)
	}
}

// linkNodes joins two "node" namespaces with a veth pair addressed a and b (same subnet).
func linkNodes(t *testing.T, pathA, pathB string, a, b netip.Prefix) {
	t.Helper()
	ha, hb := handleAt(t, pathA), handleAt(t, pathB)
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink0"}, PeerName: "uplink0", PeerNamespace: netlink.NsFd(openNS(t, pathB))}
	if err := ha.LinkAdd(v); err != nil {
		t.Fatalf("adding node link: %v", err)
	}
	for _, side := range []struct {
		h *netlink.Handle
		p netip.Prefix
	}{{ha, a}, {hb, b}} {
		l, err := side.h.LinkByName("uplink0")
		if err != nil {
			t.Fatal(err)
		}
		if err := side.h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(side.p)}); err != nil {
			t.Fatal(err)
		}
		if err := side.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

func testConfig(t *testing.T, hostNS, cidr string) Config {
	cfg := DefaultConfig()
	cfg.StateDir = t.TempDir()
	cfg.HostNetns = hostNS
	cfg.PodCIDR = netip.MustParsePrefix(cidr)
	return cfg
}

// testManager opens a Manager whose everything is removed when the test ends, also if the test
// fails half way: RemoveAll, then any mount still left under the state directory.
func testManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := New(cfg, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.RemoveAll(context.Background()); err != nil {
			t.Errorf("cleanup RemoveAll: %v", err)
		}
		m.Close()
		for _, mp := range mountsUnder(t, cfg.StateDir) {
			t.Errorf("mount %s left after RemoveAll", mp)
			removeNetns(mp)
		}
	})
	if err := m.EnsureHost(t.Context()); err != nil {
		t.Fatalf("EnsureHost: %v", err)
	}
	return m
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// mountsUnder returns the mount points below dir, from /proc/self/mountinfo.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// snapshot is the IPv4 state of a namespace as ip(8) prints it (IPv6 is left out: its
// link-local addresses change flags on their own while DAD runs).
func snapshot(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+path, "sh", "-c",
		"ip -o link; ip -4 -o addr; ip -4 route show table all").CombinedOutput()
	if err != nil {
		t.Fatalf("snapshot of %s: %v: %s", path, err, out)
	}
	return string(out)
}

func readSysctl(t *testing.T, ns netns.NsHandle, key string) string {
	t.Helper()
	var v string
	err := inNetns(ns, func() error {
		b, err := os.ReadFile(filepath.Join("/proc/sys", key))
		v = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return v
}

// serve listens on addr inside the namespace at path and answers every connection with
// "hello from <name>"; the listener stops with the test.
func serve(t *testing.T, path, addr, name string) string {
	t.Helper()
	var ln net.Listener
	if err := inNetns(openNS(t, path), func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from %s\n", name)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// dial connects from inside the namespace at path to addr and returns the greeting.
func dial(t *testing.T, path, addr string) (string, error) {
	t.Helper()
	var line string
	err := inNetns(openNS(t, path), func() error {
		d := net.Dialer{Timeout: 3 * time.Second}
		c, err := d.Dial("tcp4", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		line, err = bufio.NewReader(c).ReadString('\n')
		return err
	})
	return strings.TrimSpace(line), err
}

func mustReach(t *testing.T, fromPath, addr, wantName string) {
	t.Helper()
	got, err := dial(t, fromPath, addr)
	if err != nil {
		t.Fatalf("connecting to %s (%s): %v", addr, wantName, err)
	}
	if got != "hello from "+wantName {
		t.Fatalf("connecting to %s: got %q, want hello from %s", addr, got, wantName)
	}
}

// requireGone checks that nothing of the pod is left: host veth, netns mount and file, address.
func requireGone(t *testing.T, m *Manager, uid string) {
	t.Helper()
	if l, err := m.host.LinkByName(HostVethName(uid)); err == nil {
		t.Errorf("host veth %s of %s still exists", l.Attrs().Name, uid)
	}
	p := m.netnsPath(uid)
	for _, mp := range mountsUnder(t, m.cfg.StateDir) {
		if mp == p {
			t.Errorf("netns of %s still mounted at %s", uid, p)
		}
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("netns file of %s still exists: %v", uid, err)
	}
	if a, ok, err := m.ipam.Lookup(t.Context(), uid); err != nil || ok {
		t.Errorf("address of %s still reserved: %v %v", uid, a, err)
	}
}
