package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/skiff-sh/skiff/tools/lab"
)

const defaultLabDir = ".data/lab"

func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, labUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("skiff lab "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultLabDir, "the lab's directory (state, VM data, logs)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	switch args[0] {
	case "up":
		cfg := lab.DefaultConfig()
		fs.IntVar(&cfg.VMs, "vms", cfg.VMs, "VMs that run Skiff")
		servers := fs.Int("servers", 0, "how many of the VMs run a server (with a node); the others run only a node (default: all)")
		name := fs.String("name", cfg.Name, "the lab's name: prefix of its namespaces, links and nodes")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		logger, err := newLogger(stderr, *logLevel)
		if err != nil {
			return err
		}
		if cfg.Dir, err = filepath.Abs(*dir); err != nil {
			return err
		}
		cfg.Name = *name
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		l, err := lab.Load(cfg.Dir, logger)
		if errors.Is(err, lab.ErrNotUp) {
			fmt.Fprintf(stdout, "bringing up %d VMs and a registry in %s ...\n", cfg.VMs, cfg.Dir)
			l, err = lab.Up(ctx, cfg, logger)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "starting Skiff in the VMs and waiting for every node to be Ready ...")
		if _, err := l.StartCluster(ctx, lab.ClusterConfig{Binary: exe, Servers: *servers, LogLevel: *logLevel}); err != nil {
			return err
		}
		st, err := l.Status(ctx)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, st.String())
		fmt.Fprintf(stdout, "\nThe lab is up. Use it with:\n  export KUBECONFIG=%s\n  kubectl get nodes        (or: skiff kubectl get nodes)\n  skiff lab exec vm2 -- wget -qO- http://CLUSTER-IP/\n  skiff lab down\n", l.KubeconfigPath())
		return nil
	case "down":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		logger, err := newLogger(stderr, *logLevel)
		if err != nil {
			return err
		}
		abs, err := filepath.Abs(*dir)
		if err != nil {
			return err
		}
		if err := lab.DownDir(ctx, abs, logger); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "lab in %s is down\n", abs)
		return nil
	case "status":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		l, err := loadLab(*dir)
		if err != nil {
			return err
		}
		st, err := l.Status(ctx)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, st.String())
		return nil
	case "exec":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) > 0 && rest[0] == "--" {
			rest = rest[1:]
		}
		if len(rest) < 2 {
			return errors.New("usage: skiff lab exec [--dir DIR] VM -- COMMAND [ARGS...]")
		}
		vm, argv := rest[0], rest[1:]
		if argv[0] == "--" {
			argv = argv[1:]
		}
		l, err := loadLab(*dir)
		if err != nil {
			return err
		}
		return l.Run(ctx, vm, argv, os.Stdin, stdout, stderr)
	}
	fmt.Fprint(stderr, labUsage)
	return fmt.Errorf("unknown lab command %q", args[0])
}

func loadLab(dir string) (*lab.Lab, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return lab.Load(abs, nil)
}

const labUsage = `usage: skiff lab <command> [flags]

"VMs" in network namespaces on a bridge, each running Skiff, with a registry mirror:
  up      bring the lab up (3 VMs each running server --with-node) and wait until every node is Ready
  down    stop everything the lab started and remove every namespace, link, mount and file it made
  status  the VMs, their addresses and processes
  exec    run a command inside a VM: skiff lab exec vm2 -- wget -qO- http://10.96.0.10/
`
