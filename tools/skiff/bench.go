package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/skiff-sh/skiff/tools/bench/apibench"
	"github.com/skiff-sh/skiff/tools/bench/failover"
	"github.com/skiff-sh/skiff/tools/bench/nodeloss"
	"github.com/skiff-sh/skiff/tools/bench/podbench"
	"github.com/skiff-sh/skiff/tools/bench/proxybench"
	"github.com/skiff-sh/skiff/tools/bench/schedbench"
	"github.com/skiff-sh/skiff/tools/bench/storebench"
)

const benchUsage = "usage: skiff bench store --vs-etcd [flags] | skiff bench api [flags] | skiff bench scheduler [flags] | skiff bench proxy [flags] | skiff bench pods [flags] | skiff bench nodeloss [flags] | skiff bench failover [flags]"

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", benchUsage)
	}
	rest := args[1:]
	switch args[0] {
	case "store":
		return bench(ctx, "store", rest, stdout, stderr, storebench.RegisterFlags,
			func(o *storebench.Options, l *slog.Logger) { o.Logger = l }, storebench.Run)
	case "api":
		return runBenchAPI(ctx, rest, stdout, stderr)
	case "scheduler":
		return bench(ctx, "scheduler", rest, stdout, stderr, schedbench.RegisterFlags,
			func(o *schedbench.Options, l *slog.Logger) { o.Logger = l }, schedbench.Run)
	case "proxy":
		return bench(ctx, "proxy", rest, stdout, stderr, proxybench.RegisterFlags,
			func(o *proxybench.Config, l *slog.Logger) { o.Logger = l }, proxybench.Run)
	case "failover": // on a running lab (skiff lab up)
		return bench(ctx, "failover", rest, stdout, stderr, failover.RegisterFlags,
			func(o *failover.Config, l *slog.Logger) { o.Logger = l; o.Binary, _ = os.Executable() }, failover.Run)
	case "nodeloss": // on a running lab (skiff lab up)
		return bench(ctx, "nodeloss", rest, stdout, stderr, nodeloss.RegisterFlags,
			func(o *nodeloss.Config, l *slog.Logger) { o.Logger = l }, nodeloss.Run)
	case "pods": // on a running lab (skiff lab up)
		return bench(ctx, "pods", rest, stdout, stderr, podbench.RegisterFlags,
			func(o *podbench.Config, l *slog.Logger) { o.Logger = l }, podbench.Run)
	}
	return fmt.Errorf("%s", benchUsage)
}

// bench runs one benchmark: its flags plus --log-level, a logger on stderr,
// and its Run writing the report to stdout.
func bench[O any](ctx context.Context, name string, args []string, stdout, stderr io.Writer,
	register func(*flag.FlagSet) *O, setLogger func(*O, *slog.Logger), run func(context.Context, O, io.Writer) error) error {
	fs := flag.NewFlagSet("skiff bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := register(fs)
	logLevel := fs.String("log-level", "info", "progress log level on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	setLogger(opts, logger)
	return run(ctx, *opts, stdout)
}

// runBenchAPI has --verbose instead of --log-level.
func runBenchAPI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("skiff bench api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := apibench.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := "info"
	if opts.Verbose {
		level = "debug"
	}
	logger, err := newLogger(stderr, level)
	if err != nil {
		return err
	}
	opts.Logger = logger
	return apibench.Run(ctx, *opts, stdout)
}
