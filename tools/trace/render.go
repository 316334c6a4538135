package trace

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// RenderOptions chooses the table's columns.
type RenderOptions struct {
	// Relative shows times as offsets from the first step (+0.000s) instead of clock times.
	Relative bool
	// Wide adds the other time column and prints details in full.
	Wide bool
}

// maxDetail is how much of a detail a narrow table shows.
const maxDetail = 64

// clock is the format of absolute times: UTC with milliseconds.
const clock = "2006-01-02T15:04:05.000Z"

// Render writes the timeline as a table, one row per step, then one summary line per pod.
// A "~" marks a time known to the second only (an object timestamp).
func (t *Timeline) Render(w io.Writer, opts RenderOptions) error {
	if _, err := fmt.Fprintf(w, "deployment %s/%s\n", t.Namespace, t.Deployment); err != nil {
		return fmt.Errorf("trace: rendering: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var origin time.Time
	if len(t.Steps) > 0 {
		origin = t.Steps[0].Time
	}
	first, second := "TIME (UTC)", "OFFSET"
	if opts.Relative {
		first, second = second, first
	}
	if opts.Wide {
		fmt.Fprintf(tw, "%s\t%s\tSTEP\tOBJECT\tNODE\tDETAIL\n", first, second)
	} else {
		fmt.Fprintf(tw, "%s\tSTEP\tOBJECT\tNODE\tDETAIL\n", first)
	}
	approx := false
	for _, s := range t.Steps {
		approx = approx || s.Approx
		rel := tilde(s.Approx) + fmt.Sprintf("+%.3fs", s.Time.Sub(origin).Seconds())
		abs := tilde(s.Approx) + s.Time.UTC().Format(clock)
		first, second := abs, rel
		if opts.Relative {
			first, second = rel, abs
		}
		node, detail := s.Node, s.Detail
		if node == "" {
			node = "-"
		}
		if !opts.Wide {
			detail = truncate(detail, maxDetail)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", first, s.Step, s.Object, node, detail)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", first, second, s.Step, s.Object, node, detail)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("trace: rendering: %w", err)
	}
	if len(t.Steps) == 0 {
		fmt.Fprintln(w, "no steps found")
	}
	if approx {
		fmt.Fprintln(w, "~ known to the second only (object timestamp)")
	}
	if len(t.Pods) > 0 {
		fmt.Fprintln(w)
	}
	for _, p := range t.Pods {
		if _, err := fmt.Fprintln(w, p.String()); err != nil {
			return fmt.Errorf("trace: rendering: %w", err)
		}
	}
	return nil
}

// RenderJSON writes the timeline as indented JSON (the Timeline type, times in RFC 3339).
func (t *Timeline) RenderJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(t); err != nil {
		return fmt.Errorf("trace: rendering json: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
