package history

import (
	"sort"
	"time"
)

// Operation is an invocation paired with its completion.
type Operation struct {
	ID     int64
	Client int
	Func   Func
	Key    string
	In     Input
	Out    Output
	// Status is OK, Fail or Unknown. An invocation without a completion
	// (the recording stopped first) is Unknown.
	Status Kind
	Call   time.Duration
	Return time.Duration // Never when Status is Unknown
	Err    string
}

// Operations returns the history's register operations (every Func but
// Watch), ordered by call time.
func (h History) Operations() []Operation {
	byID := map[int64]*Operation{}
	var order []int64
	for _, e := range h {
		switch e.Kind {
		case Invoke:
			if e.Func == Watch {
				continue
			}
			op := &Operation{ID: e.Op, Client: e.Client, Func: e.Func, Key: e.Key, Status: Unknown, Call: e.Time, Return: Never}
			if e.In != nil {
				op.In = *e.In
			}
			byID[e.Op] = op
			order = append(order, e.Op)
		case OK, Fail, Unknown:
			op := byID[e.Op]
			if op == nil {
				continue
			}
			op.Status, op.Err = e.Kind, e.Err
			if e.Out != nil {
				op.Out = *e.Out
			}
			if e.Kind != Unknown {
				op.Return = e.Time
			}
		}
	}
	out := make([]Operation, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Call < out[j].Call })
	return out
}

// WatchEvent is one event a watch session received.
type WatchEvent struct {
	Key     string
	Value   string
	Rev     int64
	Deleted bool
	Time    time.Duration
}

// Session is one watch: from its Invoke to its completion.
type Session struct {
	ID     int64
	Client int // the watcher; a watcher resuming after a reconnect keeps its id
	Prefix string
	From   int64 // the first revision asked for
	Events []WatchEvent
	// Progress is the highest revision a progress notification vouched
	// for: the session has received every event through it.
	Progress int64
	Status   Kind // OK (ended by the watcher), Fail or Unknown (still open when recording stopped)
	Start    time.Duration
	End      time.Duration // Never while open
	Err      string
}

// Through returns the revision through which the session claims to have
// every event: the higher of its last event's and its progress revision.
func (s Session) Through() int64 {
	t := s.Progress
	if n := len(s.Events); n > 0 && s.Events[n-1].Rev > t {
		t = s.Events[n-1].Rev
	}
	return t
}

// Sessions returns the history's watch sessions, ordered by start time.
func (h History) Sessions() []Session {
	byID := map[int64]*Session{}
	var order []int64
	for _, e := range h {
		if e.Kind == Invoke {
			if e.Func != Watch {
				continue
			}
			s := &Session{ID: e.Op, Client: e.Client, Prefix: e.Key, Status: Unknown, Start: e.Time, End: Never}
			if e.In != nil {
				s.From = e.In.Rev
			}
			byID[e.Op] = s
			order = append(order, e.Op)
			continue
		}
		s := byID[e.Op]
		if s == nil {
			continue
		}
		switch e.Kind {
		case Event:
			ev := WatchEvent{Key: e.Key, Time: e.Time}
			if e.Out != nil {
				ev.Value, ev.Rev, ev.Deleted = e.Out.Value, e.Out.Rev, e.Out.Deleted
			}
			s.Events = append(s.Events, ev)
		case Progress:
			if e.Out != nil && e.Out.Rev > s.Progress {
				s.Progress = e.Out.Rev
			}
		case OK, Fail, Unknown:
			s.Status, s.End, s.Err = e.Kind, e.Time, e.Err
			if e.Kind == Unknown {
				s.End = Never
			}
		}
	}
	out := make([]Session, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// Finals returns the values read after the run, by key (the last one
// recorded for a key wins).
func (h History) Finals() map[string]Output {
	out := map[string]Output{}
	for _, e := range h {
		if e.Kind == Final && e.Out != nil {
			out[e.Key] = *e.Out
		}
	}
	return out
}
