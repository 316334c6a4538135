//go:build integration

package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// testNS is a throwaway network namespace held open by a file descriptor.
type testNS struct {
	h netns.NsHandle
}

// path names the namespace for nft, nsenter and Config.NetnsPath.
func (n testNS) path() string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(n.h)) }

// newNS creates a network namespace with lo up; it goes away when the test ends and the last
// socket in it is closed.
func newNS(t *testing.T) testNS {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("netns.Get: %v", err)
	}
	defer orig.Close()
	h, err := netns.New()
	if serr := netns.Set(orig); serr != nil {
		// This thread is in the wrong namespace: keep it locked so that it dies with the
		// goroutine.
		t.Fatalf("restoring network namespace: %v", serr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("netns.New: %v", err)
	}
	n := testNS{h}
	t.Cleanup(func() { h.Close() })
	lo := n.handle(t)
	l, err := lo.LinkByName("lo")
	if err != nil {
		t.Fatalf("lo: %v", err)
	}
	if err := lo.LinkSetUp(l); err != nil {
		t.Fatalf("lo up: %v", err)
	}
	return n
}

// handle is a netlink handle inside the namespace.
func (n testNS) handle(t *testing.T) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(n.h)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// do runs fn on an OS thread inside the namespace: sockets fn creates live there.
func (n testNS) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			runtime.UnlockOSThread()
			return
		}
		defer orig.Close()
		if err := netns.Set(n.h); err != nil {
			errc <- err
			runtime.UnlockOSThread()
			return
		}
		err = fn()
		if serr := netns.Set(orig); serr != nil {
			errc <- fmt.Errorf("restoring namespace: %w", serr)
			return // thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// sysctl writes a /proc/sys/net value inside the namespace (the file resolves to the netns of
// the thread that opens it).
func (n testNS) sysctl(t *testing.T, key, value string) {
	t.Helper()
	if err := n.do(func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0o644)
	}); err != nil {
		t.Fatalf("sysctl %s=%s: %v", key, value, err)
	}
}

// run runs a command inside the namespace.
func (n testNS) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + n.path(), "--"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// veth links a (name ifA, address addrA) to b (ifB, addrB), both up.
func veth(t *testing.T, a testNS, ifA, addrA string, b testNS, ifB, addrB string) {
	t.Helper()
	ha, hb := a.handle(t), b.handle(t)
	la := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ifA}, PeerName: ifB, PeerNamespace: netlink.NsFd(b.h)}
	if err := ha.LinkAdd(la); err != nil {
		t.Fatalf("veth %s-%s: %v", ifA, ifB, err)
	}
	for _, x := range []struct {
		h     *netlink.Handle
		name  string
		addrs string
	}{{ha, ifA, addrA}, {hb, ifB, addrB}} {
		l, err := x.h.LinkByName(x.name)
		if err != nil {
			t.Fatalf("link %s: %v", x.name, err)
		}
		for _, a := range strings.Split(x.addrs, ",") {
			addr, err := netlink.ParseAddr(a)
			if err != nil {
				t.Fatalf("address %s: %v", a, err)
			}
			if err := x.h.AddrAdd(l, addr); err != nil {
				t.Fatalf("address %s on %s: %v", a, x.name, err)
			}
		}
		if err := x.h.LinkSetUp(l); err != nil {
			t.Fatalf("link %s up: %v", x.name, err)
		}
	}
}

func route(t *testing.T, n testNS, dst, gw, dev string) {
	t.Helper()
	h := n.handle(t)
	r := &netlink.Route{}
	if dst != "" {
		_, ipn, err := net.ParseCIDR(dst)
		if err != nil {
			t.Fatal(err)
		}
		r.Dst = ipn
	}
	if gw != "" {
		r.Gw = net.ParseIP(gw)
	}
	if dev != "" {
		l, err := h.LinkByName(dev)
		if err != nil {
			t.Fatal(err)
		}
		r.LinkIndex = l.Attrs().Index
	}
	if err := h.RouteAdd(r); err != nil {
		t.Fatalf("route %s via %s dev %s: %v", dst, gw, dev, err)
	}
}

// echoServer is a "pod": TCP and UDP listeners on addr that answer "<name> <peer address>".
type echoServer struct {
	name string
	tcp  net.Listener
	udp  net.PacketConn
	wg   sync.WaitGroup
}

func startEcho(t *testing.T, ns testNS, name string, addr netip.AddrPort) *echoServer {
	t.Helper()
	s := &echoServer{name: name}
	if err := ns.do(func() error {
		var err error
		if s.tcp, err = net.Listen("tcp4", addr.String()); err != nil {
			return err
		}
		s.udp, err = net.ListenPacket("udp4", addr.String())
		return err
	}); err != nil {
		t.Fatalf("echo server %s on %s: %v", name, addr, err)
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.tcp.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr())
			c.Close()
		}
	}()
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 1500)
		for {
			_, from, err := s.udp.ReadFrom(buf)
			if err != nil {
				return
			}
			s.udp.WriteTo([]byte(fmt.Sprintf("%s %s\n", name, from)), from)
		}
	}()
	t.Cleanup(func() {
		s.tcp.Close()
		s.udp.Close()
		s.wg.Wait()
	})
	return s
}

// answer is what an echo server said: who answered, and the address it saw.
type answer struct {
	who, peer string
}

func parseAnswer(line string) answer {
	f := strings.Fields(line)
	if len(f) != 2 {
		return answer{who: line}
	}
	return answer{f[0], f[1]}
}

// dialTCP connects from inside ns (optionally from local address src) and reads the answer.
func dialTCP(ns testNS, src, dst string) (answer, error) {
	var a answer
	err := ns.do(func() error {
		d := net.Dialer{Timeout: 3 * time.Second}
		if src != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		c, err := d.Dial("tcp4", dst)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		a = parseAnswer(strings.TrimSpace(line))
		return nil
	})
	return a, err
}

// udpClient is a connected UDP socket created inside a namespace.
type udpClient struct{ c net.Conn }

func newUDPClient(t *testing.T, ns testNS, dst string) *udpClient {
	t.Helper()
	var c net.Conn
	if err := ns.do(func() error {
		var err error
		c, err = net.Dial("udp4", dst)
		return err
	}); err != nil {
		t.Fatalf("udp dial %s: %v", dst, err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{c}
}

func (u *udpClient) ask() (answer, error) {
	u.c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := u.c.Write([]byte("who\n")); err != nil {
		return answer{}, err
	}
	buf := make([]byte, 1500)
	n, err := u.c.Read(buf)
	if err != nil {
		return answer{}, err
	}
	return parseAnswer(strings.TrimSpace(string(buf[:n]))), nil
}
