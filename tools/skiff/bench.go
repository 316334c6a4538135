package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/skiff-sh/skiff/tools/bench/apibench"
	"github.com/skiff-sh/skiff/tools/bench/podbench"
	"github.com/skiff-sh/skiff/tools/bench/proxybench"
	"github.com/skiff-sh/skiff/tools/bench/schedbench"
	"github.com/skiff-sh/skiff/tools/bench/storebench"
)

const benchUsage = "usage: skiff bench store --vs-etcd [flags] | skiff bench api [flags] | skiff bench scheduler [flags] | skiff bench proxy [flags] | skiff bench pods [flags]"

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", benchUsage)
	}
	switch args[0] {
	case "store":
		return runBenchStore(ctx, args[1:], stdout, stderr)
	case "api":
		return runBenchAPI(ctx, args[1:], stdout, stderr)
	case "scheduler":
		return runBenchScheduler(ctx, args[1:], stdout, stderr)
	case "proxy":
		return runBenchProxy(ctx, args[1:], stdout, stderr)
	case "pods":
		return runBenchPods(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%s", benchUsage)
}

func runBenchStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("skiff bench store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := storebench.RegisterFlags(fs)
	logLevel := fs.String("log-level", "info", "progress log level on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	opts.Logger = logger
	return storebench.Run(ctx, *opts, stdout)
}

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

func runBenchScheduler(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("skiff bench scheduler", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := schedbench.RegisterFlags(fs)
	logLevel := fs.String("log-level", "info", "progress log level on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	opts.Logger = logger
	return schedbench.Run(ctx, *opts, stdout)
}

func runBenchProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("skiff bench proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := proxybench.RegisterFlags(fs)
	logLevel := fs.String("log-level", "info", "progress log level on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	opts.Logger = logger
	return proxybench.Run(ctx, *opts, stdout)
}

// runBenchPods measures pod start latency on a running lab (skiff lab up).
func runBenchPods(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("skiff bench pods", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := podbench.RegisterFlags(fs)
	logLevel := fs.String("log-level", "info", "progress log level on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	opts.Logger = logger
	return podbench.Run(ctx, *opts, stdout)
}
