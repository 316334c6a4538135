package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/skiff-sh/skiff/tools/chaos/fault"
	chaosrun "github.com/skiff-sh/skiff/tools/chaos/run"
)

const chaosUsage = `usage: skiff chaos run [--duration D] [--seed N] [--faults LIST] [--report DIR] [--lab DIR]

Runs register and watch workloads and a hello-world Deployment against the lab while a seeded
schedule injects and heals faults, then checks the history (linearizability, watches, lost
writes) and convergence, writes a report to DIR and ends with one line:
  chaos: verdict=pass|fail ops=N illegal=N lost=N maxRecovery=Nms
The exit code is non-zero on any violation. Needs root (the lab).
`

func runChaos(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprint(stderr, chaosUsage)
		return flag.ErrHelp
	}
	cfg := chaosrun.DefaultConfig()
	fs := flag.NewFlagSet("skiff chaos run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long faults run")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the fault schedule and the workloads")
	faults := fs.String("faults", "all", "comma-separated faults: "+fault.KindList())
	fs.StringVar(&cfg.ReportDir, "report", cfg.ReportDir, "directory for the report, the history and porcupine's pages")
	fs.StringVar(&cfg.LabDir, "lab", cfg.LabDir, "the lab to run against; brought up (and down) if none runs there")
	fs.BoolVar(&cfg.Deployment, "deployment", cfg.Deployment, "run the hello-world deployment workload and check convergence")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var err error
	if cfg.Faults, err = fault.ParseKinds(*faults); err != nil {
		return err
	}
	if cfg.Logger, err = newLogger(stderr, *logLevel); err != nil {
		return err
	}
	if cfg.Binary, err = os.Executable(); err != nil {
		return err
	}
	for _, d := range []*string{&cfg.ReportDir, &cfg.LabDir} {
		if *d, err = filepath.Abs(*d); err != nil {
			return err
		}
	}
	cfg.Version = version
	cfg.Command = strings.Join([]string{"skiff chaos run", "--duration", cfg.Duration.String(), "--seed", strconv.FormatUint(cfg.Seed, 10),
		"--faults", *faults, "--lab", cfg.LabDir, "--deployment=" + strconv.FormatBool(cfg.Deployment)}, " ")
	rep, err := chaosrun.Run(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	if !rep.Pass() {
		return errExited // the report says why; its last line is already printed
	}
	return nil
}
