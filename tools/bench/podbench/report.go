package podbench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Anchor figures (shared/notes/node.md).
const (
	// sloP99 is Kubernetes' pod startup SLO: stateless pods Running, observed by watch,
	// within 5 s at p99, image pull excluded.
	sloP99 = 5 * time.Second
	anchor = "anchor: Kubernetes SLO p99 <= 5000ms (create to Running seen by watch, image pull excluded); measured Kubernetes clusters 1.6-3s at p99 (p50 0.9s / p99 1.6s on a 10%-full 100-node cluster, ~2s idle kubeadm)"
)

// roundLine is the report line of one round.
func roundLine(round int, samples []sample, took time.Duration) string {
	d, _ := distOf(createToReady, samples)
	perNode := map[string]int{}
	for _, s := range samples {
		perNode[s.node]++
	}
	var nodes []string
	for _, n := range slices.Sorted(maps.Keys(perNode)) {
		nodes = append(nodes, fmt.Sprintf("%s=%d", n, perNode[n]))
	}
	return fmt.Sprintf("round %d: %d pods Ready in %s: create->ready p50=%s p90=%s p99=%s max=%s (pods per node: %s)",
		round, d.n, ms(took), ms(d.p50), ms(d.p90), ms(d.p99), ms(d.max), strings.Join(nodes, " "))
}

// report prints the distributions over all samples, the anchor, the verdict and the final line.
func report(w io.Writer, samples []sample, goal time.Duration) {
	fmt.Fprintf(w, "all rounds: %d pods (nearest-rank percentiles)\n", len(samples))
	for _, m := range measures {
		d, missing := distOf(m, samples)
		note := ""
		if missing > 0 {
			note = fmt.Sprintf(", %d without events", missing)
		}
		fmt.Fprintf(w, "  %-16s p50=%9s p90=%9s p99=%9s max=%9s  (%s%s)\n", m.name, ms(d.p50), ms(d.p90), ms(d.p99), ms(d.max), m.help, note)
	}
	pulled, imprecise := 0, 0
	for _, s := range samples {
		if s.ev.pulled {
			pulled++
		}
		imprecise += s.ev.imprecise
	}
	if pulled > 0 {
		fmt.Fprintf(w, "note: %d pods pulled the image (it was meant to be present)\n", pulled)
	}
	if imprecise > 0 {
		fmt.Fprintf(w, "note: %d events had their time only to the second and were left out\n", imprecise)
	}
	fmt.Fprintf(w, "%s\n", anchor)
	fmt.Fprintln(w, verdict(samples, goal))
	fmt.Fprintln(w, finalLine(samples))
}

// verdict compares p99 create->ready with the goal and the SLO.
func verdict(samples []sample, goal time.Duration) string {
	d, _ := distOf(createToReady, samples)
	met := "met"
	if d.p99 > goal {
		met = "NOT met"
	}
	return fmt.Sprintf("goal: p99 create->ready <= %dms: %s (p99=%dms, %.1fx under the SLO's 5000ms)",
		goal.Milliseconds(), met, ceilMillis(d.p99), float64(sloP99)/float64(max(d.p99, time.Millisecond)))
}

// finalLine is the report's last line, as the issue gives it.
func finalLine(samples []sample) string {
	ready, _ := distOf(createToReady, samples)
	netns, _ := distOf(netnsVeth, samples)
	start, _ := distOf(containerStart, samples)
	return fmt.Sprintf("pods: create->ready p50=%dms p99=%dms (netns+veth p50=%dms, container start p50=%dms)",
		ceilMillis(ready.p50), ceilMillis(ready.p99), ceilMillis(netns.p50), ceilMillis(start.p50))
}
