package policycli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"k8s.io/client-go/rest"
)

// runLocal runs the commands that work on files: build, and test (which reaches the cluster
// only with --record). It returns the exit code as Run does: 0 done, 1 failed, 2 bad usage.
func runLocal(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer, client rest.Interface) int {
	var err error
	switch cmd {
	case "build":
		err = buildCmd(ctx, args, stdout, stderr)
	case "test":
		err = testCmd(ctx, args, stdout, stderr, client)
	default:
		err = usageError{fmt.Errorf("unknown command %q", cmd)}
	}
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "error: %v\n%s", ue.error, usage)
		return 2
	}
	fmt.Fprintln(stderr, "error:", explain(err))
	return 1
}

// usageError is a command line that cannot be run.
type usageError struct{ error }

// parseArgs parses flags anywhere among the positional arguments (`test FILE.wasm --snapshot S`)
// and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
