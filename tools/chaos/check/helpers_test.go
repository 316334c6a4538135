package check

import (
	"time"

	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// hb builds histories by hand; times are in milliseconds since the start.
type hb struct {
	h  history.History
	id int64
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// op records an operation called at call and completed at ret with status;
// an Unknown operation gets no completion time.
func (b *hb) op(client int, f history.Func, key string, in history.Input, call, ret int, status history.Kind, out history.Output) *hb {
	b.id++
	b.h = append(b.h, history.Entry{Kind: history.Invoke, Op: b.id, Client: client, Time: ms(call), Func: f, Key: key, In: &in})
	e := history.Entry{Kind: status, Op: b.id, Client: client, Time: ms(ret), Func: f, Key: key, Out: &out}
	if status == history.Unknown {
		e.Out = nil
	}
	b.h = append(b.h, e)
	return b
}

func (b *hb) write(client int, key, value string, call, ret int, rev int64) *hb {
	return b.op(client, history.Write, key, history.Input{Value: value}, call, ret, history.OK, history.Output{Rev: rev})
}

func (b *hb) read(client int, key, value string, call, ret int) *hb {
	return b.op(client, history.Read, key, history.Input{}, call, ret, history.OK, history.Output{Value: value, Found: value != ""})
}

func (b *hb) cas(client int, key, expect, value string, call, ret int, rev int64) *hb {
	return b.op(client, history.CAS, key, history.Input{Value: value, Expect: expect}, call, ret, history.OK, history.Output{Rev: rev})
}

// session records a watch session on prefix from rev with events (rev, key,
// value), a progress revision (0 for none), ended by the watcher.
func (b *hb) session(client int, prefix string, from int64, progress int64, events ...ev) *hb {
	b.id++
	id := b.id
	b.h = append(b.h, history.Entry{Kind: history.Invoke, Op: id, Client: client, Func: history.Watch, Key: prefix, In: &history.Input{Rev: from}})
	for _, e := range events {
		b.h = append(b.h, history.Entry{Kind: history.Event, Op: id, Client: client, Func: history.Watch, Key: e.key, Out: &history.Output{Value: e.value, Rev: e.rev}})
	}
	if progress > 0 {
		b.h = append(b.h, history.Entry{Kind: history.Progress, Op: id, Client: client, Func: history.Watch, Key: prefix, Out: &history.Output{Rev: progress}})
	}
	b.h = append(b.h, history.Entry{Kind: history.OK, Op: id, Client: client, Func: history.Watch, Key: prefix, Out: &history.Output{}})
	return b
}

func (b *hb) final(key, value string, rev int64) *hb {
	b.h = append(b.h, history.Entry{Kind: history.Final, Func: history.Read, Key: key, Out: &history.Output{Value: value, Found: value != "", Rev: rev}})
	return b
}

type ev struct {
	rev   int64
	key   string
	value string
}

func newHB() *hb { return &hb{} }
