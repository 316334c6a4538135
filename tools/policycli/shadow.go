package policycli

import (
	"errors"
	"flag"
	"fmt"
	"io"

	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
)

// pushArgs is the command line of `skiff policy push NAME FILE [--shadow [--shadow-of S]]`.
type pushArgs struct {
	name, file string
	// shadow pushes the policy as a shadow of shadowOf ("" for the server's default,
	// default-scheduler): it places no pods, its placements are compared with shadowOf's.
	shadow   bool
	shadowOf string
}

// parsePush parses push's arguments; flags may come anywhere.
func parsePush(args []string) (pushArgs, error) {
	var p pushArgs
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&p.shadow, "shadow", false, "run beside --shadow-of, placing no pods, and record where it would have")
	fs.StringVar(&p.shadowOf, "shadow-of", "", "the scheduler a shadow policy runs beside (default "+v1.DefaultShadowOf+")")
	pos, err := parseArgs(fs, args)
	switch {
	case err != nil:
		return p, err
	case len(pos) != 2:
		return p, errors.New("push takes NAME and FILE.wasm")
	case p.shadowOf != "" && !p.shadow:
		return p, errors.New("--shadow-of needs --shadow")
	}
	p.name, p.file = pos[0], pos[1]
	return p, nil
}

// apply sets spec's shadow fields as the flags say (a push without --shadow makes a shadow
// policy a scheduler) and reports whether they changed.
func (p pushArgs) apply(spec *v1.SchedulingPolicySpec) bool {
	of := ""
	if p.shadow {
		of = p.shadowOf
		if of == "" {
			of = v1.DefaultShadowOf
		}
	}
	changed := spec.Shadow != p.shadow || spec.ShadowOf != of
	spec.Shadow, spec.ShadowOf = p.shadow, of
	return changed
}

// describe is what push prints after the module: ", shadow of S" for a shadow policy.
func (p pushArgs) describe(spec *v1.SchedulingPolicySpec) string {
	if !spec.Shadow {
		return ""
	}
	return ", shadow of " + spec.ShadowOf
}

// shadowColumns are list's SHADOW cell (the scheduler a shadow policy runs beside, "-" for a
// scheduler) and AGREEMENT cell: the share of its decisions that agreed, with the counts.
func shadowColumns(p *v1.SchedulingPolicy) (shadow, agreement string) {
	if !p.Spec.Shadow {
		return "-", "-"
	}
	shadow = p.Spec.ShadowOf
	if shadow == "" {
		shadow = v1.DefaultShadowOf
	}
	st := p.Status.Shadow
	if st == nil || st.Decisions == 0 {
		return shadow, "-"
	}
	compared := st.Agreements + st.Disagreements
	if compared == 0 {
		agreement = "-"
	} else {
		agreement = fmt.Sprintf("%d%% (%d/%d)", st.Agreements*100/compared, st.Agreements, compared)
	}
	if st.Failures > 0 {
		agreement += fmt.Sprintf(", %d failed", st.Failures)
	}
	return shadow, agreement
}
