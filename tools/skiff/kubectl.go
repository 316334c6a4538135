package main

import (
	"errors"
	"os"
	"path/filepath"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/plugin"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/skiff-sh/skiff/control/apiclient"
)

// errExited reports that kubectl ran and already printed its outcome.
var errExited = errors.New("kubectl failed")

// runKubectl is the real kubectl (k8s.io/kubectl), as `k3s kubectl` is, with
// the cluster's kubeconfig preset (presetKubeconfig), failing over between the
// API servers the kubeconfig lists.
func runKubectl(args []string) error {
	presetKubeconfig()
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	flags := genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300).WithDiscoveryQPS(50.0).WithWarningPrinter(streams)
	// Fail over between the API servers the kubeconfig lists (apiclient).
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		raw, err := flags.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return c
		}
		name := raw.CurrentContext
		if flags.Context != nil && *flags.Context != "" {
			name = *flags.Context
		}
		if kctx, ok := raw.Contexts[name]; ok {
			if cluster, ok := raw.Clusters[kctx.Cluster]; ok {
				return apiclient.Wrap(c, apiclient.ServersOf(cluster))
			}
		}
		return c
	}
	cmd := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
		PluginHandler: kubectlcmd.NewDefaultPluginHandler(plugin.ValidPluginFilenamePrefixes),
		Arguments:     append([]string{"kubectl"}, args...),
		ConfigFlags:   flags,
		IOStreams:     streams,
	})
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		// kubectl's own error printing and exit codes.
		cmdutil.CheckErr(err)
		return errExited
	}
	return nil
}

// presetKubeconfig sets $KUBECONFIG, unless set, to
// $SKIFF_DATA_DIR/kubeconfig, else the one `make up` writes
// (.data/lab/kubeconfig) if present, else kubectl's own default stays.
func presetKubeconfig() {
	if os.Getenv("KUBECONFIG") != "" {
		return
	}
	if dir := os.Getenv("SKIFF_DATA_DIR"); dir != "" {
		os.Setenv("KUBECONFIG", filepath.Join(dir, "kubeconfig")) //nolint:errcheck // a valid name
		return
	}
	for _, p := range []string{filepath.Join(defaultLabDir, "kubeconfig"), filepath.Join(".data", "n1", "kubeconfig")} {
		if _, err := os.Stat(p); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				os.Setenv("KUBECONFIG", abs) //nolint:errcheck // a valid name
				return
			}
		}
	}
}
