package check

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Result is a checker's conclusion.
type Result string

// The results, from best to worst.
const (
	Pass    Result = "pass"
	Unknown Result = "unknown" // the checker could not decide (e.g. porcupine timed out)
	Fail    Result = "fail"
)

// worse returns the worse of two results.
func worse(a, b Result) Result {
	rank := map[Result]int{Pass: 0, Unknown: 1, Fail: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Verdict is what one checker concluded about a history.
type Verdict struct {
	Checker string `json:"checker"`
	Result  Result `json:"result"`
	// Summary is one line for the report, e.g. "12 keys, 3401 ops: 0 illegal".
	Summary string `json:"summary"`
	// Details lists each violation (or undecided part) in words.
	Details []string `json:"details,omitempty"`
	// Files are the artifacts written into the report directory (paths).
	Files []string `json:"files,omitempty"`
	// Violations counts the violations found (illegal keys, lost writes,
	// watch anomalies).
	Violations int `json:"violations"`
}

// String is the verdict on one line.
func (v Verdict) String() string {
	return fmt.Sprintf("%s: %s (%s)", v.Checker, v.Result, v.Summary)
}

// maxDetails bounds Details, so a badly broken run stays readable.
const maxDetails = 50

func (v *Verdict) detail(format string, args ...any) {
	if len(v.Details) == maxDetails {
		v.Details = append(v.Details, "... (more left out)")
	}
	if len(v.Details) > maxDetails {
		return
	}
	v.Details = append(v.Details, fmt.Sprintf(format, args...))
}

// Config tunes the checkers.
type Config struct {
	// Timeout bounds porcupine's search per key; a key not decided in time is
	// Unknown. 0 means no bound.
	Timeout time.Duration
	// ReportDir, if set, receives porcupine's visualisation of each illegal
	// key (linearizability-<key>.html).
	ReportDir string
}

// DefaultConfig returns the defaults: 30 s per key, no report directory.
func DefaultConfig() Config {
	return Config{Timeout: 30 * time.Second}
}

// Validate reports a configuration the checkers cannot use.
func (c Config) Validate() error {
	var errs []error
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("check: Timeout %s is negative", c.Timeout))
	}
	if strings.ContainsRune(c.ReportDir, 0) {
		errs = append(errs, fmt.Errorf("check: ReportDir %q contains a NUL byte", c.ReportDir))
	}
	return errors.Join(errs...)
}
