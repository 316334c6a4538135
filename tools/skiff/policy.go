package main

import (
	"context"
	"fmt"
	"io"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/tools/policycli"
)

// runPolicy is `skiff policy push|list|rollback`, against the cluster
// `skiff kubectl` would use.
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	presetKubeconfig()
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("policy: kubeconfig: %w", err)
	}
	client, err := policycli.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if code := policycli.Run(ctx, args, stdout, stderr, client); code != 0 {
		return errExited // policycli printed why
	}
	return nil
}
