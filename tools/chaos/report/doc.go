// Package report is a chaos run's report: what ran (seed, versions,
// topology, the command that repeats it), the fault timeline over the
// workloads' throughput and latency, a verdict per checker, recovery times
// per fault kind, and the one line `skiff chaos run` ends with. Write puts
// it in a directory as report.html (inline SVG, no scripts), report.json
// and summary.txt; everything is computed from data, so tests need no
// cluster.
package report
