package proxybench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/vishvananda/netns"

	"github.com/skiff-sh/skiff/nodes/proxy"
)

// result is one size.
type result struct {
	services          int
	full, change      time.Duration // skiff
	nftFull, nftDelta time.Duration // anchor
	objects           int
}

// Run runs the benchmark and prints its report to w, ending with the final line.
func Run(ctx context.Context, cfg Config, w io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("proxybench: needs root to create network namespaces and program nftables")
	}
	nft, err := exec.LookPath(cfg.NFT)
	if err != nil {
		return fmt.Errorf("proxybench: the anchor needs nft: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp("", "proxybench-")
	if err != nil {
		return fmt.Errorf("proxybench: %w", err)
	}
	defer os.RemoveAll(dir)

	fmt.Fprintf(w, "proxy: %d endpoints per service; skiff = nodes/proxy over netlink, anchor = %s -f of the same transaction; ratio = nft/skiff\n", cfg.Endpoints, nft)
	var results []result
	for _, n := range cfg.Services {
		r, err := runSize(ctx, cfg, n, nft, dir, log)
		if err != nil {
			return err
		}
		results = append(results, r)
		fmt.Fprintf(w, "services=%-6d full sync:  skiff %8s  nft -f %8s  ratio %5.2f   (%d objects)\n",
			n, ms(r.full), ms(r.nftFull), ratio(r.nftFull, r.full), r.objects)
		fmt.Fprintf(w, "services=%-6d one change: skiff %8s  nft -f %8s  ratio %5.2f\n",
			n, ms(r.change), ms(r.nftDelta), ratio(r.nftDelta, r.change))
	}
	largest := slices.MaxFunc(results, func(a, b result) int { return a.services - b.services })
	fmt.Fprintf(w, "proxy: full sync %d svcs=%dms one change=%dms\n",
		largest.services, largest.full.Milliseconds(), largest.change.Milliseconds())
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func ratio(anchor, skiff time.Duration) float64 {
	if skiff <= 0 {
		return 0
	}
	return float64(anchor) / float64(skiff)
}

// services builds n services with e endpoints each.
func services(n, e int) []proxy.Service {
	out := make([]proxy.Service, n)
	base := netip.MustParseAddr("10.96.0.0").As4()
	epBase := netip.MustParseAddr("10.128.0.0").As4()
	for i := range out {
		out[i] = proxy.Service{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i),
			ClusterIP: addAddr(base, i+1),
			Ports:     []proxy.Port{{Name: "http", Port: 80}}}
		for j := 0; j < e; j++ {
			out[i].Ports[0].Endpoints = append(out[i].Ports[0].Endpoints,
				proxy.Endpoint{IP: addAddr(epBase, i*e+j+1), Port: 8080})
		}
	}
	return out
}

func addAddr(a [4]byte, n int) netip.Addr {
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// changeOne replaces the last endpoint of the middle service with a fresh address.
func changeOne(svcs []proxy.Service) []proxy.Service {
	next := slices.Clone(svcs)
	i := len(next) / 2
	p := next[i].Ports[0]
	p.Endpoints = slices.Clone(p.Endpoints)
	p.Endpoints[len(p.Endpoints)-1] = proxy.Endpoint{IP: netip.MustParseAddr("10.127.255.254"), Port: 8080}
	next[i].Ports = []proxy.Port{p}
	return next
}

func runSize(ctx context.Context, cfg Config, n int, nft, dir string, log *slog.Logger) (result, error) {
	r := result{services: n}
	svcs := services(n, cfg.Endpoints)
	next := changeOne(svcs)

	// Skiff.
	ns, err := newNetns()
	if err != nil {
		return r, err
	}
	defer ns.Close()
	pcfg := proxy.DefaultConfig()
	pcfg.NetnsPath = nsPath(ns)
	p, err := proxy.New(pcfg, log)
	if err != nil {
		return r, fmt.Errorf("proxybench: %w", err)
	}
	defer p.Close()
	defer p.Cleanup(context.WithoutCancel(ctx))
	runtime.GC()
	st, err := p.Sync(ctx, svcs)
	if err != nil {
		return r, fmt.Errorf("proxybench: full sync of %d services: %w", n, err)
	}
	r.full, r.objects = st.Duration, st.Objects()
	st, err = p.Sync(ctx, next)
	if err != nil {
		return r, fmt.Errorf("proxybench: one change at %d services: %w", n, err)
	}
	if st.Full || st.Changed != 1 {
		return r, fmt.Errorf("proxybench: the change at %d services wrote %d service ports (full=%t), want 1", n, st.Changed, st.Full)
	}
	r.change = st.Duration
	log.Info("proxybench: skiff", "services", n, "full", r.full, "change", r.change)

	// The anchor, in its own namespace.
	ans, err := newNetns()
	if err != nil {
		return r, err
	}
	defer ans.Close()
	full := filepath.Join(dir, fmt.Sprintf("full-%d.nft", n))
	delta := filepath.Join(dir, fmt.Sprintf("change-%d.nft", n))
	if err := os.WriteFile(full, []byte(proxy.FullScript(pcfg, svcs)), 0o600); err != nil {
		return r, fmt.Errorf("proxybench: %w", err)
	}
	if err := os.WriteFile(delta, []byte(proxy.IncrementalScript(svcs, next)), 0o600); err != nil {
		return r, fmt.Errorf("proxybench: %w", err)
	}
	runtime.GC()
	if r.nftFull, err = nftFile(ctx, ans, nft, full); err != nil {
		return r, err
	}
	if r.nftDelta, err = nftFile(ctx, ans, nft, delta); err != nil {
		return r, err
	}
	if _, err := nftRun(ctx, ans, nft, "delete", "table", "ip", "skiff"); err != nil {
		return r, err
	}
	log.Info("proxybench: nft", "services", n, "full", r.nftFull, "change", r.nftDelta)
	return r, nil
}

func nftFile(ctx context.Context, ns netns.NsHandle, nft, file string) (time.Duration, error) {
	return nftRun(ctx, ns, nft, "-f", file)
}

// nftRun runs nft inside ns and returns how long it ran.
func nftRun(ctx context.Context, ns netns.NsHandle, nft string, args ...string) (time.Duration, error) {
	var d time.Duration
	err := inNetns(ns, func() error {
		// The child is forked from this thread, so it starts in ns.
		cmd := exec.CommandContext(ctx, nft, args...)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d = time.Since(start)
		if err != nil {
			return fmt.Errorf("proxybench: nft %v: %w: %.2000s", args, err, out)
		}
		return nil
	})
	return d, err
}

// newNetns creates a network namespace without entering it; it lives while the handle (or a
// process inside) does.
func newNetns() (netns.NsHandle, error) {
	errc := make(chan error, 1)
	var h netns.NsHandle
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("proxybench: %w", err)
			return
		}
		defer orig.Close()
		h, err = netns.New()
		if serr := netns.Set(orig); serr != nil {
			errc <- fmt.Errorf("proxybench: restoring network namespace: %w", serr)
			return // the thread stays locked and exits with this goroutine
		}
		runtime.UnlockOSThread()
		if err != nil {
			err = fmt.Errorf("proxybench: creating network namespace: %w", err)
		}
		errc <- err
	}()
	return h, <-errc
}

func nsPath(h netns.NsHandle) string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(h)) }

// inNetns runs fn on an OS thread inside ns.
func inNetns(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = fn()
		if serr := netns.Set(orig); serr != nil {
			errc <- fmt.Errorf("proxybench: restoring network namespace: %w", serr)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}
