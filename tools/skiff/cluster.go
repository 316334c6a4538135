package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/membership"
)

const clusterUsage = "usage: skiff cluster members"

// runCluster is `skiff cluster members`: the Serf view of the API server
// the kubeconfig names.
func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "members" {
		fmt.Fprintln(stderr, clusterUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("skiff cluster members", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	presetKubeconfig()
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("cluster: kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	raw, err := client.Discovery().RESTClient().Get().AbsPath(apiserver.MembersPath).DoRaw(ctx)
	if err != nil {
		if len(raw) > 0 {
			return fmt.Errorf("cluster members: %w: %s", err, raw)
		}
		return fmt.Errorf("cluster members: %w", err)
	}
	var members []membership.Member
	if err := json.Unmarshal(raw, &members); err != nil {
		return fmt.Errorf("cluster members: %w", err)
	}
	if len(members) == 0 {
		return errors.New("cluster members: the server knows no members")
	}
	return membership.WriteMembers(stdout, members)
}
