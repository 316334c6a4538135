package apibench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

const (
	mediaJSON = "application/json"
	userAgent = "skiff-bench-api"
)

// Run starts three `skiff server` processes on loopback, creates the pods
// through the API while watching for them on other servers, writes as many
// raw store puts of the same size, and writes a table to out whose last line
// is the machine-read summary (see the package comment). After a failure that
// line is not written, so a run that printed it measured everything.
//
// Every process Run starts is killed, and its scratch directory removed
// (unless opts.Keep), before Run returns — on error and on ctx cancellation
// too, so callers should cancel ctx on SIGINT rather than let the signal end
// the program.
func Run(ctx context.Context, opts Options, out io.Writer) (err error) {
	if err := opts.Validate(); err != nil {
		return err
	}
	log := opts.logger()
	bin, err := resolveBin(opts.SkiffBin)
	if err != nil {
		return err
	}
	if opts.PprofDir != "" {
		if err := os.MkdirAll(opts.PprofDir, 0o755); err != nil {
			return fmt.Errorf("apibench: profile directory: %w", err)
		}
	}
	root, err := os.MkdirTemp(opts.TempDir, "skiff-apibench-")
	if err != nil {
		return fmt.Errorf("apibench: scratch directory: %w", err)
	}
	defer func() {
		if opts.Keep {
			log.Info("kept data dirs and server logs", "dir", root)
			return
		}
		if rerr := os.RemoveAll(root); rerr != nil {
			log.Error("remove scratch directory", "dir", root, "err", rerr)
		}
	}()
	log.Info("starting servers", "dir", root, "skiff", bin)
	c, err := startCluster(clusterSpec{bin: bin, dir: root, extraArgs: opts.ServerArgs, debug: opts.PprofDir != ""}, log)
	if err != nil {
		return err
	}
	defer c.stop()
	// A server that died explains a failure better than the client's error.
	defer func() {
		if aerr := c.checkAlive(); err != nil && aerr != nil {
			err = fmt.Errorf("%w\n%w", err, aerr)
		}
	}()
	encoding := "protobuf"
	if opts.JSON {
		encoding = "JSON"
	}
	if err := c.waitReady(ctx, opts.StartTimeout, func(cfg *rest.Config) {
		cfg.QPS, cfg.Burst = 1e6, 1e6 // no client-side throttling
		cfg.UserAgent = userAgent
		if opts.JSON {
			cfg.ContentType = mediaJSON
			cfg.AcceptContentTypes = mediaJSON
		}
	}); err != nil {
		return err
	}
	clis, err := storeClients(ctx, c, opts.OpTimeout)
	if err != nil {
		return err
	}
	defer closeAll(clis)

	clk := clock{base: time.Now()}
	w, err := startWatchers(ctx, c, opts.Pods, clk)
	if err != nil {
		return err
	}
	defer w.stop()
	waitProfiles := func() {}
	if opts.PprofDir != "" {
		waitProfiles = profileServers(ctx, c, opts.PprofDir, opts.PprofSeconds, log)
	}
	log.Info("creating pods", "pods", opts.Pods, "workers", opts.Workers, "encoding", encoding)
	create := runPhase(ctx, "create", opts.Pods, opts.Workers, len(c.servers), opts.OpTimeout, clk, log, func(ctx context.Context, s, i int) error {
		_, err := c.servers[s].kube.CoreV1().Pods(namespace).Create(ctx, newPod(i, c.servers[s].Name), metav1.CreateOptions{})
		return err
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apibench: create pods: %w", err)
	}
	w.waitFor(ctx, create.all.ops(), opts.WatchTimeout)
	w.stop()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apibench: wait for watch events: %w", err)
	}
	if err := w.err(); err != nil {
		return err
	}
	waitProfiles()
	watchAll, watchPer := watchResult(create, w.arr, len(c.servers))

	first := -1
	for i, ok := range create.ok {
		if ok {
			first = i
			break
		}
	}
	if first < 0 {
		return fmt.Errorf("apibench: no pod was created: %v", create.firstErr)
	}
	size, err := storedSize(ctx, clis[0], podKey(first), opts.OpTimeout)
	if err != nil {
		return err
	}
	value := putValue(size)
	log.Info("writing raw store puts", "puts", opts.Pods, "workers", opts.Workers, "bytes", size)
	put := runPhase(ctx, "put", opts.Pods, opts.Workers, len(clis), opts.OpTimeout, clk, log, func(ctx context.Context, s, i int) error {
		_, err := clis[s].Put(ctx, putKey(i), value)
		return err
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apibench: store puts: %w", err)
	}

	names := make([]string, len(c.servers))
	for i, s := range c.servers {
		names[i] = s.Name
	}
	rep := report{
		pods: opts.Pods, workers: opts.Workers, servers: names, encoding: encoding, storedSize: size,
		create: create, watch: watchAll, watchPer: watchPer, put: put,
	}
	if err := rep.writeTable(out, opts.Verbose); err != nil {
		return err
	}
	if err := rep.check(); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(out, rep.finalLine()); err != nil {
		return fmt.Errorf("apibench: write the final line: %w", err)
	}
	return nil
}

// resolveBin finds the skiff binary; empty means this executable.
func resolveBin(bin string) (string, error) {
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("apibench: find this executable to run as the skiff server: %w", err)
		}
		bin = exe
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("apibench: skiff binary: %w", err)
	}
	return path, nil
}
