package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/membership"
)

const clusterUsage = "usage: skiff cluster members|status|remove NAME"

// runCluster is `skiff cluster members` (the Serf view of the API server
// the kubeconfig names) and `skiff cluster status` (every raft member's
// role, term, indexes and last contact).
func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "members" && args[0] != "status" && args[0] != "remove") {
		fmt.Fprintln(stderr, clusterUsage)
		return flag.ErrHelp
	}
	what := args[0]
	fs := flag.NewFlagSet("skiff cluster "+what, flag.ContinueOnError)
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
	if what == "remove" {
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, clusterUsage)
			return flag.ErrHelp
		}
		raw, err := client.Discovery().RESTClient().Post().AbsPath(apiserver.RemovePath).Param("name", fs.Arg(0)).DoRaw(ctx)
		if err != nil {
			if len(raw) > 0 {
				return fmt.Errorf("cluster remove: %w: %s", err, strings.TrimSpace(string(raw)))
			}
			return fmt.Errorf("cluster remove: %w", err)
		}
		_, err = stdout.Write(raw)
		return err
	}
	path := apiserver.MembersPath
	if what == "status" {
		path = apiserver.StatusPath
	}
	raw, err := client.Discovery().RESTClient().Get().AbsPath(path).DoRaw(ctx)
	if err != nil {
		if len(raw) > 0 {
			return fmt.Errorf("cluster %s: %w: %s", what, err, raw)
		}
		return fmt.Errorf("cluster %s: %w", what, err)
	}
	if what == "status" {
		var servers []apiserver.ServerStatus
		if err := json.Unmarshal(raw, &servers); err != nil {
			return fmt.Errorf("cluster status: %w", err)
		}
		return writeServerStatus(stdout, servers)
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

// writeServerStatus prints one line per raft member.
func writeServerStatus(w io.Writer, servers []apiserver.ServerStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tRAFT ADDRESS\tSTATE\tVOTER\tTERM\tCOMMIT\tAPPLIED\tLAST CONTACT")
	for _, s := range servers {
		contact := "-"
		if s.LastContactMillis >= 0 {
			contact = (time.Duration(s.LastContactMillis) * time.Millisecond).String()
		}
		state := s.State
		if s.Error != "" {
			state += " (" + s.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%d\t%d\t%d\t%s\n", s.Name, s.RaftAddr, state, s.Voter, s.Term, s.CommitIndex, s.AppliedIndex, contact)
	}
	return tw.Flush()
}
