package policycli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/rest"

	policy "github.com/skiff-sh/skiff/wasm/policies/scheduler"
	"github.com/skiff-sh/skiff/wasm/sdk"
	"github.com/skiff-sh/skiff/wasm/snapshot"
)

// ErrDisagree is returned by `policy test` when the module and the reference decided some pod
// differently.
var ErrDisagree = errors.New("decisions differ")

// testCmd is `skiff policy test [FILE.wasm] (--snapshot SNAP.json | --record SNAP.json)
// [--native DIR|NAME]`.
func testCmd(ctx context.Context, args []string, stdout, stderr io.Writer, client rest.Interface) error {
	fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	snapPath := fs.String("snapshot", "", "replay the cluster snapshot in `FILE`")
	record := fs.String("record", "", "record the live cluster's nodes and pods into `FILE` (then replay it, given a module)")
	native := fs.String("native", "", "compare with the module's source: a package `DIR` built natively, or the NAME of a policy compiled into skiff")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 1:
		return usageError{errors.New("policy test takes one module")}
	case *snapPath != "" && *record != "":
		return usageError{errors.New("give --snapshot or --record, not both")}
	case *snapPath == "" && *record == "":
		return usageError{errors.New("policy test needs --snapshot FILE (or --record FILE to make one)")}
	case len(pos) == 0 && *record == "":
		return usageError{errors.New("policy test needs a module FILE.wasm to replay the snapshot through")}
	}

	var snap *snapshot.Snapshot
	if *record != "" {
		if snap, err = Record(ctx, client, time.Now()); err != nil {
			return err
		}
		if err := snap.WriteFile(*record); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "recorded %s: %d nodes, %d bound pods, %d pending pods\n", *record, len(snap.Nodes), len(snap.Bound), len(snap.Pending))
		if len(pos) == 0 {
			return nil
		}
		if err := snap.Validate(); err != nil {
			return err
		}
	} else {
		if snap, err = snapshot.ReadFile(*snapPath); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "snapshot %s: %d nodes, %d bound pods, %d pending pods\n", *snapPath, len(snap.Nodes), len(snap.Bound), len(snap.Pending))
	}
	return replay(ctx, stdout, pos[0], snap, *native)
}

// replay runs the snapshot through the module and the reference and prints the comparison.
func replay(ctx context.Context, out io.Writer, file string, snap *snapshot.Snapshot, native string) error {
	wasm, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("policy test: %w", err)
	}
	m, closeHost, err := loadModule(ctx, filepath.Base(file), wasm)
	if err != nil {
		return fmt.Errorf("policy test: %w", err)
	}
	defer closeHost()
	if h := m.Hooks(); !h.Filter && !h.Score {
		return fmt.Errorf("policy test: %s is not a scheduling module (hooks %s)", file, hookList(h))
	}

	var ref snapshot.Policy
	var opts snapshot.Options
	var refName string
	if native != "" {
		var closeRef func() error
		ref, refName, closeRef, err = nativeReference(ctx, native)
		if err != nil {
			return err
		}
		defer closeRef()
		opts.Exact = true
	} else {
		ref, refName = sdk.NewNativeScheduler(policy.Policy{}), "the built-in default scheduler, natively"
	}
	fmt.Fprintf(out, "module %s in wazero (hooks %s) vs %s\n", file, hookList(m.Hooks()), refName)
	if native == "" {
		fmt.Fprintln(out, "no --native given: comparing with the default policy, not the module's own source; "+
			"give --native DIR (its package) or --native NAME ("+nativeNames()+") to check the module against its source")
	}
	if opts.Exact {
		fmt.Fprintln(out, "agreement: identical verdicts and scores on every node")
	} else {
		fmt.Fprintln(out, "agreement: the same best-scored node(s), or no feasible node for both")
	}
	outcomes, err := snapshot.Replay(ctx, snap, m, ref, opts)
	if err != nil {
		return fmt.Errorf("policy test: %w", err)
	}
	if len(outcomes) == 0 {
		fmt.Fprintln(out, "no pending pods in the snapshot: nothing to compare")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tMODULE\tREFERENCE\tAGREE")
	bad := 0
	for _, o := range outcomes {
		agree := "yes"
		if !o.Agree {
			bad++
			agree = "NO: " + o.Why
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Pod, choice(o.Module), choice(o.Reference), agree)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range outcomes {
		for _, d := range []struct {
			side string
			d    snapshot.Decision
		}{{"module", o.Module}, {"reference", o.Reference}} {
			if d.d.Err != "" {
				fmt.Fprintf(out, "%s: %s failed: %s\n", o.Pod, d.side, d.d.Err)
			}
		}
	}
	if bad > 0 {
		fmt.Fprintf(out, "%d of %d pods decided differently\n", bad, len(outcomes))
		return fmt.Errorf("%w: %d of %d pods", ErrDisagree, bad, len(outcomes))
	}
	fmt.Fprintf(out, "all %d pods decided alike\n", len(outcomes))
	return nil
}

// choice is a decision in one cell: the node and its score, ties, or why there is none.
func choice(d snapshot.Decision) string {
	switch {
	case d.Err != "":
		return "(failed)"
	case d.Node == "":
		return "(no feasible node)"
	}
	s := fmt.Sprintf("%s (score %d", d.Node, d.Score)
	switch ties := d.Best[1:]; {
	case len(ties) > 3:
		s += fmt.Sprintf(", tied with %d more", len(ties))
	case len(ties) > 0:
		s += ", tied with " + strings.Join(ties, ",")
	}
	return s + ")"
}
