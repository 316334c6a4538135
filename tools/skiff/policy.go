package main

import (
	"context"
	"fmt"
	"io"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/tools/policycli"
)

// runPolicy is `skiff policy push|list|rollback`, against the cluster
// `skiff kubectl` would use.
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	presetKubeconfig()
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	var client rest.Interface
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err == nil {
		client, err = policycli.NewClient(cfg)
	}
	// build and test work on files; the others (and test --record) need the
	// cluster, and say so when there is none.
	local := len(args) > 0 && (args[0] == "build" || args[0] == "test")
	if err != nil && !local {
		return fmt.Errorf("policy: kubeconfig: %w", err)
	}
	if code := policycli.Run(ctx, args, stdout, stderr, client); code != 0 {
		return errExited // policycli printed why
	}
	return nil
}
