package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/skiff-sh/skiff/tools/bench/storebench"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "store" {
		return fmt.Errorf("usage: skiff bench store --vs-etcd [flags]")
	}
	fs := flag.NewFlagSet("skiff bench store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := storebench.RegisterFlags(fs)
	logLevel := fs.String("log-level", "info", "progress log level on stderr")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	opts.Logger = logger
	return storebench.Run(ctx, *opts, stdout)
}
