// Package policycli is `skiff policy`: it uploads scheduling policy modules
// to a cluster and points SchedulingPolicies (skiff.dev/v1alpha1) at them.
//
//	skiff policy push NAME FILE.wasm   upload the module (if new) and run it as scheduler NAME
//	  --shadow [--shadow-of S]         ... or as a shadow of S: compared with S, placing no pods
//	skiff policy list                  the scheduling policies: module, age, loaded
//	skiff policy rollback NAME         point NAME at the module it ran before
//
// It talks to the API with a client-go REST client over the group's JSON.
package policycli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/skiff-sh/skiff/control/api/scheme"
	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
)

// NewClient returns a REST client of skiff.dev/v1alpha1 from a cluster's
// client configuration (a kubeconfig's).
func NewClient(cfg *rest.Config) (rest.Interface, error) {
	c := rest.CopyConfig(cfg)
	gv := v1.SchemeGroupVersion
	c.GroupVersion = &gv
	c.APIPath = "/apis"
	c.ContentType = "application/json"
	c.AcceptContentTypes = "application/json"
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = "skiff-policy"
	}
	client, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("policycli: client: %w", err)
	}
	return client, nil
}

const usage = `usage:
  skiff policy push NAME FILE.wasm   upload a module and run it as the scheduler NAME
  skiff policy push NAME FILE.wasm --shadow [--shadow-of S]
                                     run it beside S (default-scheduler) placing no pods,
                                     and count where it would have placed S's pods
  skiff policy list                  list the scheduling policies
  skiff policy rollback NAME         point NAME at the module it ran before
  skiff policy build DIR [-o FILE]   build the Go policy package in DIR into a checked module
  skiff policy test FILE.wasm --snapshot SNAP.json [--native DIR|NAME]
                                     replay a cluster snapshot's pending pods through the module
  skiff policy test [FILE.wasm] --record SNAP.json [--native DIR|NAME]
                                     record the cluster into SNAP.json (and replay it)
`

// Run runs one `skiff policy` command with client (see NewClient) and
// returns the exit code: 0 done, 1 failed, 2 bad usage.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, client rest.Interface) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "push":
		p, perr := parsePush(rest)
		if perr != nil {
			fmt.Fprintf(stderr, "error: %v\n%s", perr, usage)
			return 2
		}
		err = push(ctx, client, stdout, p)
	case cmd == "list" && len(rest) == 0:
		err = list(ctx, client, stdout, time.Now())
	case cmd == "rollback" && len(rest) == 1:
		err = rollback(ctx, client, stdout, rest[0])
	case cmd == "build" || cmd == "test":
		return runLocal(ctx, cmd, rest, stdout, stderr, client)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", explain(err))
		return 1
	}
	return 0
}

// explain is an API error as a person reads it: a 422's causes one per line.
func explain(err error) string {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return err.Error()
	}
	s := st.Status()
	if s.Details == nil || len(s.Details.Causes) == 0 {
		return s.Message
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s is invalid:", s.Details.Kind, s.Details.Name)
	for _, c := range s.Details.Causes {
		fmt.Fprintf(&b, "\n  %s: %s", c.Field, c.Message)
	}
	return b.String()
}

// push uploads the module unless it is there, then creates or updates the
// policy to run it.
func push(ctx context.Context, client rest.Interface, out io.Writer, args pushArgs) error {
	name := args.name
	wasm, err := os.ReadFile(args.file)
	if err != nil {
		return fmt.Errorf("read module: %w", err)
	}
	digest := v1.Digest(wasm)
	modName := v1.ObjectName(digest)
	var existing v1.PolicyModule
	err = client.Get().Resource("policymodules").Name(modName).Do(ctx).Into(&existing)
	switch {
	case apierrors.IsNotFound(err):
		m := &v1.PolicyModule{TypeMeta: metav1.TypeMeta{APIVersion: v1.SchemeGroupVersion.String(), Kind: "PolicyModule"},
			ObjectMeta: metav1.ObjectMeta{Name: modName}, Spec: v1.PolicyModuleSpec{Wasm: wasm}}
		var created v1.PolicyModule
		if err := client.Post().Resource("policymodules").Body(m).Do(ctx).Into(&created); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		fmt.Fprintf(out, "policymodule/%s uploaded (%d bytes, hooks %s)\n", modName, len(wasm), strings.Join(created.Spec.Hooks, ","))
	case err != nil:
		return err
	default:
		fmt.Fprintf(out, "policymodule/%s unchanged\n", modName)
	}

	var verb, desc string
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var p v1.SchedulingPolicy
		err := client.Get().Resource("schedulingpolicies").Name(name).Do(ctx).Into(&p)
		if apierrors.IsNotFound(err) {
			p = v1.SchedulingPolicy{TypeMeta: metav1.TypeMeta{APIVersion: v1.SchemeGroupVersion.String(), Kind: "SchedulingPolicy"},
				ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.SchedulingPolicySpec{Module: digest}}
			args.apply(&p.Spec)
			verb, desc = "created", args.describe(&p.Spec)
			return client.Post().Resource("schedulingpolicies").Body(&p).Do(ctx).Error()
		}
		if err != nil {
			return err
		}
		changed := args.apply(&p.Spec)
		desc = args.describe(&p.Spec)
		if p.Spec.Module == digest && !changed {
			verb = "unchanged"
			return nil
		}
		p.Spec.Module = digest
		verb = "updated"
		return client.Put().Resource("schedulingpolicies").Name(name).Body(&p).Do(ctx).Error()
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "schedulingpolicy/%s %s: module %s%s\n", name, verb, digest, desc)
	return nil
}

func list(ctx context.Context, client rest.Interface, out io.Writer, now time.Time) error {
	var l v1.SchedulingPolicyList
	if err := client.Get().Resource("schedulingpolicies").Do(ctx).Into(&l); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMODULE\tREVISIONS\tAGE\tLOADED\tSHADOW\tAGREEMENT")
	for _, p := range l.Items {
		loaded := "Unknown"
		for _, c := range p.Status.Conditions {
			if c.Type == v1.ConditionLoaded {
				loaded = string(c.Status)
				if c.Status != metav1.ConditionTrue {
					loaded += " (" + c.Reason + ")"
				}
			}
		}
		shadow, agreement := shadowColumns(&p)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", p.Name, v1.Short(p.Spec.Module), len(p.Status.History),
			duration.HumanDuration(now.Sub(p.CreationTimestamp.Time)), loaded, shadow, agreement)
	}
	return tw.Flush()
}

// rollback points the policy at the module before its current one in its
// history; the rollback is itself a new revision, as `kubectl rollout undo` is.
func rollback(ctx context.Context, client rest.Interface, out io.Writer, name string) error {
	var prev string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var p v1.SchedulingPolicy
		if err := client.Get().Resource("schedulingpolicies").Name(name).Do(ctx).Into(&p); err != nil {
			return err
		}
		h := p.Status.History
		prev = ""
		for i := len(h) - 1; i >= 0; i-- {
			if h[i].Module != p.Spec.Module {
				prev = h[i].Module
				break
			}
		}
		if prev == "" {
			return fmt.Errorf("schedulingpolicy %s has no earlier module to roll back to", name)
		}
		p.Spec.Module = prev
		return client.Put().Resource("schedulingpolicies").Name(name).Body(&p).Do(ctx).Error()
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "schedulingpolicy/%s rolled back to module %s\n", name, prev)
	return nil
}
