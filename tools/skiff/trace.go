package main

import (
	"context"
	"fmt"
	"io"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/tools/trace"
)

// runTrace prints a Deployment's lifecycle timeline, with the kubeconfig
// `skiff kubectl` would use.
func runTrace(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	presetKubeconfig()
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("trace: kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	return trace.Run(ctx, args, stdout, stderr, client)
}
