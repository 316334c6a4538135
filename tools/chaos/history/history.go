package history

import (
	"math"
	"time"
)

// Kind says what an entry records.
type Kind string

// The kinds of entries.
const (
	Invoke   Kind = "invoke"   // a client started an operation
	OK       Kind = "ok"       // the operation happened, with the given output
	Fail     Kind = "fail"     // the operation certainly did not take effect
	Unknown  Kind = "unknown"  // the operation may or may not have taken effect
	Event    Kind = "event"    // a watch session received an event
	Progress Kind = "progress" // a watch session was told it has every event through Out.Rev
	Final    Kind = "final"    // the value of a key read after the run
)

// Func names the operation.
type Func string

// The operations the workloads issue.
const (
	Read  Func = "read"  // read a register: Out.Value, Out.Found, Out.Rev (its mod revision)
	Write Func = "write" // write In.Value unconditionally: Out.Rev is the write's revision
	CAS   Func = "cas"   // write In.Value if the register holds In.Expect ("" = absent)
	Watch Func = "watch" // watch the prefix Key from revision In.Rev
)

// Never is the return time of an operation whose outcome is unknown: it may
// take effect at any time after its call.
const Never = time.Duration(math.MaxInt64)

// Input is what an operation asked for.
type Input struct {
	Value  string `json:"value,omitempty"`  // write, cas: the new value
	Expect string `json:"expect,omitempty"` // cas: the value the register must hold ("" = absent)
	Rev    int64  `json:"rev,omitempty"`    // watch: the first revision the session asks for
}

// Output is what an operation (or event, or final read) returned.
type Output struct {
	Value string `json:"value,omitempty"` // read, event, final: the value; cas fail with Observed: the value seen
	Found bool   `json:"found,omitempty"` // read, final: the key exists
	// Rev is the revision of a write or cas, the mod revision of a read or
	// final value, the revision of an event, or the revision a progress
	// notification vouches for.
	Rev      int64 `json:"rev,omitempty"`
	Conflict bool  `json:"conflict,omitempty"` // cas fail: the compare failed (the register did not hold In.Expect)
	Observed bool  `json:"observed,omitempty"` // cas fail: Value is what the register held when the compare failed
	Deleted  bool  `json:"deleted,omitempty"`  // event: the key was deleted
}

// Entry is one line of a history.
type Entry struct {
	Kind Kind `json:"kind"`
	// Op ties a completion, and a watch session's events, to their Invoke.
	// Final entries have Op 0.
	Op     int64         `json:"op,omitempty"`
	Client int           `json:"client"`
	Time   time.Duration `json:"time"` // since the run started (monotonic)
	Func   Func          `json:"f,omitempty"`
	Key    string        `json:"key,omitempty"` // register key, or watched prefix; events: the event's key
	In     *Input        `json:"in,omitempty"`
	Out    *Output       `json:"out,omitempty"`
	Err    string        `json:"err,omitempty"`
}

// History is a recorded run, in the order entries were recorded.
type History []Entry
