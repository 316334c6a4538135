package main

import (
	"errors"
	"os"
	"path/filepath"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/plugin"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// errExited reports that kubectl ran and already printed its outcome.
var errExited = errors.New("kubectl failed")

// runKubectl is the real kubectl (k8s.io/kubectl), as `k3s kubectl` is, with
// the cluster's kubeconfig preset: $KUBECONFIG if set, else
// $SKIFF_DATA_DIR/kubeconfig, else the one `make up` writes
// (.data/n1/kubeconfig) if present, else kubectl's own default.
func runKubectl(args []string) error {
	if os.Getenv("KUBECONFIG") == "" {
		if path := skiffKubeconfig(); path != "" {
			if err := os.Setenv("KUBECONFIG", path); err != nil {
				return err
			}
		}
	}
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
		PluginHandler: kubectlcmd.NewDefaultPluginHandler(plugin.ValidPluginFilenamePrefixes),
		Arguments:     append([]string{"kubectl"}, args...),
		ConfigFlags:   genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300).WithDiscoveryQPS(50.0).WithWarningPrinter(streams),
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

func skiffKubeconfig() string {
	if dir := os.Getenv("SKIFF_DATA_DIR"); dir != "" {
		return filepath.Join(dir, "kubeconfig")
	}
	if _, err := os.Stat(filepath.Join(".data", "n1", "kubeconfig")); err == nil {
		abs, err := filepath.Abs(filepath.Join(".data", "n1", "kubeconfig"))
		if err == nil {
			return abs
		}
	}
	return ""
}
