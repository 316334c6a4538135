package trace

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const usage = `usage: skiff trace deployment NAME [-n NAMESPACE] [-o json|wide] [--absolute]

Prints a Deployment's lifecycle timeline: created, ReplicaSets, pods created and scheduled,
images pulled, sandboxes ready, containers started, Ready, endpoints and proxy rules per node,
from events and object timestamps, then one summary line per pod.

flags:
`

// Run is `skiff trace`: args are what follows "trace", for example
// ["deployment", "web", "-n", "shop", "-o", "wide"]. The kind may be written deployment,
// deployments, deploy, or as deployment/NAME. Flags may come before or after the name. The
// timeline goes to stdout; usage and warnings go to stderr. It returns flag.ErrHelp after
// printing usage for -h, and an error (already formatted for the user) otherwise.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, client kubernetes.Interface) error {
	fs := flag.NewFlagSet("skiff trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var namespace, output string
	var absolute bool
	fs.StringVar(&namespace, "n", metav1.NamespaceDefault, "namespace")
	fs.StringVar(&namespace, "namespace", metav1.NamespaceDefault, "namespace")
	fs.StringVar(&output, "o", "", "output: json, or wide (both time columns, full details)")
	fs.StringVar(&output, "output", "", "output: json or wide")
	fs.BoolVar(&absolute, "absolute", false, "show clock times (UTC) instead of offsets from the first step")
	// Go's flag stops at the first positional argument; keep going to allow kubectl's order.
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	kind, name, err := target(pos)
	if err != nil {
		fs.Usage()
		return err
	}
	if kind != "deployment" {
		return fmt.Errorf("trace: cannot trace %q: only deployments are traced", kind)
	}
	if output != "" && output != "json" && output != "wide" {
		return fmt.Errorf("trace: unknown output format %q: want json or wide", output)
	}
	if client == nil {
		return errors.New("trace: no API client")
	}
	tl, err := Collect(ctx, client, namespace, name)
	if err != nil {
		return err
	}
	if tl.Events == 0 {
		fmt.Fprintf(stderr, "warning: no events found for deployment %s/%s: events expire (an hour by default); times are from object timestamps only\n", tl.Namespace, tl.Deployment)
	}
	if output == "json" {
		return tl.RenderJSON(stdout)
	}
	return tl.Render(stdout, RenderOptions{Relative: !absolute, Wide: output == "wide"})
}

// target reads "deployment NAME" or "deployment/NAME".
func target(pos []string) (kind, name string, err error) {
	switch {
	case len(pos) == 1 && strings.Contains(pos[0], "/"):
		kind, name, _ = strings.Cut(pos[0], "/")
	case len(pos) == 2:
		kind, name = pos[0], pos[1]
	default:
		return "", "", fmt.Errorf("trace: want deployment NAME, got %q", strings.Join(pos, " "))
	}
	switch strings.ToLower(kind) {
	case "deployment", "deployments", "deploy", "deployment.apps", "deployments.apps":
		kind = "deployment"
	}
	if name == "" {
		return "", "", fmt.Errorf("trace: want deployment NAME, got %q", strings.Join(pos, " "))
	}
	return kind, name, nil
}
