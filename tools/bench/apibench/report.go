package apibench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"
)

// Goals of the API relative to its store, from the issue that asked for the
// benchmark; the table marks whether a run met them.
const (
	goalAPIStore = 0.7
	goalWatchP99 = 100 * time.Millisecond
)

// finalLineRE matches the line Run ends with; its groups are the create
// rate, its p99 and the watch p99 in milliseconds, and the api/store ratio.
var finalLineRE = regexp.MustCompile(`^api: create=(\d+)/s p99=(\d+)ms watchP99=(\d+)ms api/store=(\d+\.\d+)$`)

// report is what a run measured.
type report struct {
	pods, workers int
	servers       []string
	encoding      string // "JSON" or "protobuf"
	storedSize    int    // bytes of one stored pod, the size of every put
	create        phaseResult
	watch         samples   // errs: created pods whose ADDED event never arrived
	watchPer      []samples // by the server the pod was created through
	put           phaseResult
}

// ratio is the api create rate over the store put rate.
func (r *report) ratio() float64 {
	if r.put.all.rate() == 0 {
		return 0
	}
	return r.create.all.rate() / r.put.all.rate()
}

// check fails unless every operation of every phase succeeded and every
// created pod's ADDED event arrived.
func (r *report) check() error {
	var errs []error
	if e := r.create.all; e.errs > 0 || e.ops() != r.pods {
		errs = append(errs, fmt.Errorf("apibench: %d of %d creates succeeded, %d failed; first failure: %v", e.ops(), r.pods, e.errs, r.create.firstErr))
	}
	if r.watch.errs > 0 {
		errs = append(errs, fmt.Errorf("apibench: the ADDED events of %d of %d created pods never arrived", r.watch.errs, r.create.all.ops()))
	}
	if e := r.put.all; e.errs > 0 || e.ops() != r.pods {
		errs = append(errs, fmt.Errorf("apibench: %d of %d store puts succeeded, %d failed; first failure: %v", e.ops(), r.pods, e.errs, r.put.firstErr))
	}
	return errors.Join(errs...)
}

// finalLine is the machine-read summary: rates rounded to whole operations
// per second, latencies rounded up to whole milliseconds.
func finalLine(createRate float64, createP99, watchP99 time.Duration, ratio float64) string {
	return fmt.Sprintf("api: create=%d/s p99=%dms watchP99=%dms api/store=%.2f",
		int64(math.Round(createRate)), ceilMillis(createP99), ceilMillis(watchP99), ratio)
}

func (r *report) finalLine() string {
	return finalLine(r.create.all.rate(), r.create.all.p99(), r.watch.p99(), r.ratio())
}

// writeTable prints the figures; verbose adds each server's share.
func (r *report) writeTable(out io.Writer, verbose bool) error {
	share := make([]string, len(r.servers))
	for s := range r.servers {
		share[s] = fmt.Sprint(r.workers/len(r.servers) + boolInt(s < r.workers%len(r.servers)))
	}
	fmt.Fprintf(out, "skiff bench api: %d servers on loopback, %d pods in namespace %s, %d workers (%s per server), %s, %d-byte stored pod\n",
		len(r.servers), r.pods, namespace, r.workers, strings.Join(share, "/"), r.encoding, r.storedSize)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tok\tfailed\telapsed\trate/s\tp50 ms\tp99 ms\tmax ms\t\n", nameWidth, "phase")
	row := func(name string, s samples) {
		elapsed, rate := "-", "-"
		if s.elapsed > 0 {
			elapsed = fmt.Sprintf("%.2fs", s.elapsed.Seconds())
			rate = fmt.Sprintf("%.0f", s.rate())
		}
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", nameWidth, name, s.ops(), s.errs, elapsed, rate, msString(s.p50()), msString(s.p99()), msString(s.max()))
	}
	perServer := func(what string, per []samples) {
		if !verbose {
			return
		}
		for s, p := range per {
			row(fmt.Sprintf("  %s %s", what, r.servers[s]), p)
		}
	}
	row("api create", r.create.all)
	perServer("via", r.create.perServer)
	row("watch ADDED", r.watch)
	perServer("created via", r.watchPer)
	row("store put", r.put.all)
	perServer("via", r.put.perServer)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("apibench: write table: %w", err)
	}
	_, err := fmt.Fprintf(out, "api/store %.2f (goal >= %.1f: %s), watch p99 %s ms (goal <= %d ms: %s); watch is from before a create to its ADDED event on another server\n",
		r.ratio(), goalAPIStore, met(r.ratio() >= goalAPIStore), msString(r.watch.p99()), goalWatchP99.Milliseconds(), met(r.watch.ops() > 0 && r.watch.p99() <= goalWatchP99))
	if err != nil {
		return fmt.Errorf("apibench: write table: %w", err)
	}
	return nil
}

// nameWidth pads the phase names, so they line up on the left in a table
// whose numbers line up on the right.
const nameWidth = 16

func msString(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
