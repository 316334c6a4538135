package storebench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// Run starts a three-member etcd and a three-node Skiff store on loopback, runs
// every workload against each in turn, and writes a table to out whose last line
// is the machine-read ratio line (see the package comment). Nothing is written
// after a failure, so a run that printed the ratio line measured everything.
//
// Every process Run starts is killed, and its scratch directory removed, before
// Run returns — on error and on ctx cancellation too, so callers should cancel ctx
// on SIGINT (signal.NotifyContext) rather than let the signal end the program.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	log := opts.logger()
	skiffBin, etcdBin, err := resolveBins(opts)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp(opts.TempDir, "skiff-storebench-")
	if err != nil {
		return fmt.Errorf("storebench: scratch directory: %w", err)
	}
	defer func() {
		if err := os.RemoveAll(root); err != nil {
			log.Error("remove scratch directory", "dir", root, "err", err)
		}
	}()
	log.Info("starting clusters", "dir", root, "skiff", skiffBin, "etcd", etcdBin)

	ports, err := freePorts(2 * portsPerCluster)
	if err != nil {
		return err
	}
	etcd, err := startEtcd(etcdBin, filepath.Join(root, "etcd"), ports[:portsPerCluster], log)
	if err != nil {
		return err
	}
	defer etcd.stop()
	skiff, err := startSkiff(skiffBin, filepath.Join(root, "skiff"), ports[portsPerCluster:], log)
	if err != nil {
		return err
	}
	defer skiff.stop()
	for _, c := range []*cluster{etcd, skiff} {
		if err := c.waitHealthy(ctx, opts.StartTimeout); err != nil {
			return err
		}
	}

	fmt.Fprintf(out, "skiff bench store --vs-etcd: %d members each on loopback, %v per workload, %d-byte values, %d keys, %d conns, clients to the leader\n",
		clusterSize, opts.Duration, opts.ValueSize, opts.Keys, opts.Conns)
	var rep report
	for _, w := range workloads() {
		var c comparison
		c.workload = w.name
		if c.etcd, err = runWorkload(ctx, etcd, w, opts); err != nil {
			return err
		}
		if c.skiff, err = runWorkload(ctx, skiff, w, opts); err != nil {
			return err
		}
		rep.rows = append(rep.rows, c)
	}
	failover, failErr := measureFailover(ctx, skiff, opts)
	rep.failover = failover

	if err := rep.writeTable(out); err != nil {
		return err
	}
	if failErr != nil {
		return failErr
	}
	if err := rep.check(); err != nil {
		return err
	}
	ratios, err := rep.ratios()
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(out, ratioLine(ratios, rep.failover)); err != nil {
		return fmt.Errorf("storebench: write ratio line: %w", err)
	}
	return nil
}

// resolveBins finds the two server binaries; an empty SkiffBin means this executable.
func resolveBins(opts Options) (skiffBin, etcdBin string, err error) {
	skiffBin = opts.SkiffBin
	if skiffBin == "" {
		if skiffBin, err = os.Executable(); err != nil {
			return "", "", fmt.Errorf("storebench: find this executable to run as the skiff server: %w", err)
		}
	}
	if skiffBin, err = exec.LookPath(skiffBin); err != nil {
		return "", "", fmt.Errorf("storebench: skiff binary: %w", err)
	}
	if etcdBin, err = exec.LookPath(opts.EtcdBin); err != nil {
		return "", "", fmt.Errorf("storebench: etcd binary (install etcd-server, or set --etcd-bin): %w", err)
	}
	return skiffBin, etcdBin, nil
}
