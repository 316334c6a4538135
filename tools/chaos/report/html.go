package report

import (
	"fmt"
	"html"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/tools/chaos/fault"
)

// kindColors tells fault kinds apart on the timeline.
var kindColors = map[fault.Kind]string{
	fault.KillLeader: "#d62728", fault.KillFollower: "#ff9896", fault.Pause: "#9467bd",
	fault.IsolateLeader: "#8c564b", fault.Isolate: "#c49c94", fault.Split: "#1f77b4",
	fault.Ring: "#aec7e8", fault.KillContainerd: "#2ca02c", fault.Transfer: "#bcbd22",
}

// HTML renders the report as one page with inline SVG plots.
func (r *Report) HTML() string {
	var b strings.Builder
	e := html.EscapeString
	verdict := "pass"
	if !r.Pass() {
		verdict = "fail"
	}
	fmt.Fprintf(&b, `<!doctype html><html><head><meta charset="utf-8"><title>skiff chaos: %s</title>
<style>body{font:14px sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
.pass{color:#2a2}.fail{color:#c22}.unknown{color:#a80}code{background:#f4f4f4;padding:2px}</style></head><body>
<h1>skiff chaos run: <span class="%s">%s</span></h1>
<p><code>%s</code></p>
`, verdict, verdict, verdict, e(r.Line()))
	fmt.Fprintf(&b, "<p>Seed %d, started %s, %s, %d register operations, %d faults.</p>\n", r.Seed, r.Started.Format(time.RFC3339), r.Duration.Round(time.Second), r.Ops, len(r.Faults))
	if r.Command != "" {
		fmt.Fprintf(&b, "<p>Repeat with: <code>%s</code></p>\n", e(r.Command))
	}
	b.WriteString("<h2>Versions and topology</h2><ul>")
	for _, k := range sortedKeys(r.Versions) {
		fmt.Fprintf(&b, "<li>%s: %s</li>", e(k), e(r.Versions[k]))
	}
	for _, t := range r.Topology {
		fmt.Fprintf(&b, "<li>%s</li>", e(t))
	}
	b.WriteString("</ul>\n<h2>Verdicts</h2><table><tr><th>checker</th><th>result</th><th>summary</th><th>details</th></tr>\n")
	for _, v := range r.Verdicts {
		var det []string
		for _, d := range v.Details {
			det = append(det, e(d))
		}
		for _, f := range v.Files {
			det = append(det, fmt.Sprintf(`<a href="%s">%s</a>`, e(filepath.Base(f)), e(filepath.Base(f))))
		}
		fmt.Fprintf(&b, `<tr><td>%s</td><td class="%s">%s</td><td>%s</td><td>%s</td></tr>`+"\n", e(v.Checker), v.Result, v.Result, e(v.Summary), strings.Join(det, "<br>"))
	}
	b.WriteString("</table>\n")
	for _, n := range r.Notes {
		fmt.Fprintf(&b, `<p class="fail">%s</p>`, e(n))
	}
	if sv := r.Service; sv != nil {
		fmt.Fprintf(&b, "<p>Service availability (requests to the workload's Service from inside the VMs): %d sent, %d failed, %d of them outside fault windows.</p>\n", sv.Requests, sv.Failed, sv.Outside)
	}
	b.WriteString("<h2>Faults over throughput and latency</h2>\n")
	b.WriteString(r.timelineSVG())
	b.WriteString("<h2>Recovery after heal, per fault kind</h2><table><tr><th>fault</th><th>n</th><th>election p50</th><th>election max</th><th>first write p50</th><th>first write max</th><th>never recovered</th></tr>\n")
	for _, rc := range r.Recovery {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%d</td><td>%dms</td><td>%dms</td><td>%dms</td><td>%dms</td><td>%d</td></tr>\n", rc.Kind, rc.N,
			rc.ElectionP50.Milliseconds(), rc.ElectionMax.Milliseconds(), rc.WriteP50.Milliseconds(), rc.WriteMax.Milliseconds(), rc.Unrecovered)
	}
	b.WriteString("</table>\n<h2>Fault timeline</h2><table><tr><th>#</th><th>fault</th><th>what</th><th>injected</th><th>healed</th><th>ops ok/fail/unknown while on</th><th>service requests failed/sent while on</th><th>election</th><th>first write</th><th>errors</th></tr>\n")
	win := map[int]Window{}
	for _, w := range r.Windows {
		win[w.Seq] = w
	}
	for _, f := range r.Faults {
		w := win[f.Seq]
		errs := strings.TrimSpace(f.Err + " " + f.HealErr)
		what := e(f.Detail)
		if f.Outcome != "" {
			what += "<br><i>" + e(f.Outcome) + "</i>"
		}
		fmt.Fprintf(&b, "<tr><td>%d</td><td>%s</td><td>%s</td><td>%.1fs</td><td>%.1fs</td><td>%d/%d/%d</td><td>%d/%d</td><td>%dms</td><td>%dms</td><td>%s</td></tr>\n",
			f.Seq, f.Kind, what, f.Injected.Seconds(), f.Healed.Seconds(), w.OK, w.Fail, w.Unknown, w.Failed, w.Requests, f.Election.Milliseconds(), f.FirstWrite.Milliseconds(), e(errs))
	}
	b.WriteString("</table></body></html>\n")
	return b.String()
}

// timelineSVG draws throughput (ok per second, failed and unknown stacked),
// p99 latency, and the faults as bands under them.
func (r *Report) timelineSVG() string {
	const w, h, band, left = 1000.0, 220.0, 40.0, 50.0
	end := r.Duration
	for _, bk := range r.Buckets {
		end = max(end, bk.At+time.Second)
	}
	for _, f := range r.Faults {
		end = max(end, f.Healed)
	}
	if end <= 0 {
		end = time.Second
	}
	x := func(d time.Duration) float64 { return left + (w-left)*float64(d)/float64(end) }
	maxOps, maxLat := 1, time.Millisecond
	for _, bk := range r.Buckets {
		maxOps = max(maxOps, bk.OK+bk.Fail+bk.Unknown)
		maxLat = max(maxLat, bk.P99)
	}
	y := func(n int) float64 { return h - h*float64(n)/float64(maxOps) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-size="11">`+"\n", w+10, h+band+30)
	bw := (w - left) * float64(time.Second) / float64(end)
	for _, bk := range r.Buckets {
		x0 := x(bk.At)
		stack := []struct {
			n     int
			color string
		}{{bk.OK, "#4c9"}, {bk.Fail, "#e55"}, {bk.Unknown, "#fb3"}}
		base := 0
		for _, s := range stack {
			if s.n == 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x0, y(base+s.n), max(bw-0.5, 0.5), y(base)-y(base+s.n), s.color)
			base += s.n
		}
	}
	b.WriteString("\n")
	var pts []string
	for _, bk := range r.Buckets {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(bk.At)+bw/2, h-h*float64(bk.P99)/float64(maxLat)))
	}
	if len(pts) > 0 {
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#333" stroke-width="1"/>`+"\n", strings.Join(pts, " "))
	}
	fmt.Fprintf(&b, `<text x="0" y="10">%d ops/s</text><text x="0" y="%.0f">0</text><text x="%.0f" y="10" text-anchor="end">line: p99 latency, top = %dms</text>`+"\n", maxOps, h, w, maxLat.Milliseconds())
	for _, f := range r.Faults {
		healed := f.Healed
		if healed == 0 {
			healed = end
		}
		color := kindColors[f.Kind]
		if color == "" {
			color = "#999"
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%.0f" fill="%s" opacity="0.8"><title>%s</title></rect>`,
			x(f.Injected), h+5, max(x(healed)-x(f.Injected), 2), band-10, color, html.EscapeString(fmt.Sprintf("#%d %s: %s", f.Seq, f.Kind, f.Detail)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f">%d</text>`, x(f.Injected), h+band+5, f.Seq)
	}
	for s := time.Duration(0); s <= end; s += 30 * time.Second {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f">%ds</text>`, x(s), h+band+22, int(s.Seconds()))
	}
	b.WriteString("\n</svg>\n<p>")
	for _, k := range fault.Kinds {
		fmt.Fprintf(&b, `<span style="background:%s">&nbsp;&nbsp;</span> %s &nbsp; `, kindColors[k], k)
	}
	b.WriteString(`</p><p>Bars: register operations called per second (green ok, red failed, yellow unknown).</p>`)
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
