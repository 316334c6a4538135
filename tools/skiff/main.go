// Command skiff is Skiff's single binary: a small, real Kubernetes.
//
//	skiff server   a control node (the replicated store and the API server)
//	skiff node     a node daemon (pods, their network, Services)
//	skiff kubectl  the real kubectl with the cluster's kubeconfig preset
//	skiff bench    benchmarks side by side with their anchors
//	skiff version  print the version
//
// The main package only parses flags and calls into packages that tests
// drive directly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/skiff-sh/skiff/nodes/podlogs"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if filepath.Base(os.Args[0]) == podlogs.LoggerName {
		podlogs.LoggerMain() // run by containerd's shims to write a container's log
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errExited) {
			fmt.Fprintln(os.Stderr, "skiff:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return flag.ErrHelp
	}
	switch args[0] {
	case "server":
		return runServer(ctx, args[1:], stderr)
	case "node":
		return runNode(ctx, args[1:], stderr)
	case "lab":
		return runLab(ctx, args[1:], stdout, stderr)
	case "trace":
		return runTrace(ctx, args[1:], stdout, stderr)
	case "policy":
		return runPolicy(ctx, args[1:], stdout, stderr)
	case "cluster":
		return runCluster(ctx, args[1:], stdout, stderr)
	case "kubectl":
		return runKubectl(args[1:])
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "chaos":
		return runChaos(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "skiff", version)
		return nil
	case "help", "-h", "--help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: skiff <command> [flags]

commands:
  server    run a control node (the replicated store and the Kubernetes API)
  node      run a node daemon (pods with containerd, their network, Services in nftables)
  lab       a cluster of "VMs" (network namespaces) on this machine: lab up | down | status | exec
  trace     a Deployment's lifecycle timeline: trace deployment NAME
  cluster   the cluster's members as Serf sees them: cluster members
  policy    scheduling policy modules: policy push NAME FILE.wasm | list | rollback NAME
  kubectl   the real kubectl, with the cluster's kubeconfig preset
  bench     run a benchmark side by side with its anchor (bench store --vs-etcd)
  chaos     faults against the lab, histories checked: chaos run [--duration D] [--seed N] [--faults LIST]
  version   print the version
`)
}

// newLogger logs text to w at the named level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
