package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

// The linearizability test drives concurrent put, get and compare-and-swap
// clients against a three-member cluster while faults run, records every
// operation, and checks the history with porcupine, partitioned by key.
// Calls that fail or time out have unknown outcomes: they are recorded as
// returning at the end of time, so the checker may place them anywhere after
// their call (or, equivalently, nowhere observable).

type regOp int

const (
	opGet regOp = iota
	opPut
	opCAS
)

type regInput struct {
	op     regOp
	key    string
	value  string // put, cas: new value
	expect string // cas: expected value
}

type regOutput struct {
	value   string // get: value read ("" if absent)
	ok      bool   // cas: swapped
	unknown bool   // the call failed: it may or may not have taken effect
}

var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(regInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(string), input.(regInput), output.(regOutput)
		switch in.op {
		case opGet:
			return out.value == st, st
		case opPut:
			return true, in.value
		case opCAS:
			swaps := st == in.expect && st != ""
			if out.unknown {
				if swaps {
					return true, in.value
				}
				return true, st
			}
			if out.ok {
				return swaps, in.value
			}
			return !swaps, st
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		suffix := ""
		if out.unknown {
			suffix = " (unknown)"
		}
		switch in.op {
		case opGet:
			return fmt.Sprintf("get(%s) -> %q%s", in.key, out.value, suffix)
		case opPut:
			return fmt.Sprintf("put(%s, %q)%s", in.key, in.value, suffix)
		default:
			return fmt.Sprintf("cas(%s, %q -> %q) -> %v%s", in.key, in.expect, in.value, out.ok, suffix)
		}
	},
}

// history records operations from many clients.
type history struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(op porcupine.Operation) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// gates hold client calls to a paused member, as a stopped process would.
type gates struct {
	mu     sync.Mutex
	paused map[int]chan struct{}
}

func (g *gates) wait(ctx context.Context, i int) {
	g.mu.Lock()
	ch := g.paused[i]
	g.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

func (g *gates) pause(i int) {
	g.mu.Lock()
	g.paused[i] = make(chan struct{})
	g.mu.Unlock()
}

func (g *gates) resume(i int) {
	g.mu.Lock()
	if ch := g.paused[i]; ch != nil {
		close(ch)
		delete(g.paused, i)
	}
	g.mu.Unlock()
}

func TestLinearizableUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs faults for about 12 s")
	}
	c := storetest.New(t, 3, nil)
	h := &history{start: time.Now()}
	g := &gates{paused: map[int]chan struct{}{}}
	keys := []string{"lin/a", "lin/b", "lin/c", "lin/d"}
	const clients = 8
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var okOps, unknownOps atomic.Int64

	// A watcher that resumes on another member when its member dies.
	var seen []*mvccpb.Event
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		next := int64(1)
		for ctx.Err() == nil {
			s := c.Nodes[rand.IntN(len(c.Nodes))].Store()
			if s == nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			w, err := s.Watch(ctx, raftstore.WatchRequest{Key: []byte("lin/"), RangeEnd: []byte("lin0"), StartRevision: next})
			if err != nil {
				continue
			}
			for r := range w.C {
				if r.Canceled {
					t.Errorf("watch from %d canceled: %v", next, r.Err)
					break
				}
				for _, ev := range r.Events {
					seen = append(seen, ev)
					next = ev.Kv.ModRevision + 1
				}
			}
			w.Close()
		}
	}()

	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(cl), 42))
			last := map[string]string{}
			for seq := 0; ctx.Err() == nil; seq++ {
				node := rnd.IntN(len(c.Nodes))
				s := c.Nodes[node].Store()
				if s == nil {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				key := keys[rnd.IntN(len(keys))]
				in := regInput{key: key, value: fmt.Sprintf("c%d-%d", cl, seq)}
				switch r := rnd.IntN(10); {
				case r < 4:
					in.op = opGet
				case r < 7:
					in.op = opPut
				default:
					in.op = opCAS
					in.expect = last[key]
				}
				opCtx, cancel := context.WithTimeout(ctx, time.Second)
				call := h.now()
				g.wait(opCtx, node)
				out, err := runOp(opCtx, s, in)
				ret := h.now()
				cancel()
				if err != nil {
					if in.op == opGet {
						continue // a failed read has no effect
					}
					out.unknown = true
					ret = 1 << 62
					unknownOps.Add(1)
				} else {
					okOps.Add(1)
				}
				if in.op == opGet && out.value != "" {
					last[key] = out.value
				}
				if in.op != opGet && !out.unknown {
					last[key] = in.value
				}
				h.add(porcupine.Operation{ClientId: cl, Input: in, Call: call, Output: out, Return: ret, Metadata: c.Nodes[node].Name})
			}
		}()
	}

	// Faults.
	step := func(d time.Duration) { time.Sleep(d) }
	step(time.Second)
	l := c.Leader()
	t.Logf("%dus: kill leader n%d", h.now()/1e3, l+1)
	c.Kill(l)
	step(time.Second)
	c.Restart(l)
	step(time.Second)
	f := (c.Leader() + 1) % 3
	t.Logf("%dus: isolate follower n%d", h.now()/1e3, f+1)
	c.Isolate(f)
	step(time.Second)
	c.Heal()
	step(500 * time.Millisecond)
	l = c.Leader()
	t.Logf("%dus: isolate leader n%d with the majority on the other side", h.now()/1e3, l+1)
	c.Isolate(l)
	step(time.Second)
	c.Heal()
	step(500 * time.Millisecond)
	t.Logf("%dus: partition every member from every other: no majority", h.now()/1e3)
	c.Partition([]int{0}, []int{1}, []int{2})
	step(time.Second)
	c.Heal()
	step(500 * time.Millisecond)
	l = c.Leader()
	t.Logf("%dus: pause leader n%d", h.now()/1e3, l+1)
	g.pause(l)
	c.Isolate(l)
	step(time.Second)
	c.Heal()
	g.resume(l)
	t.Logf("%dus: resumed", h.now()/1e3)
	step(time.Second)
	stop()
	wg.Wait()
	<-watchDone

	t.Logf("%d operations acknowledged, %d unknown", okOps.Load(), unknownOps.Load())
	if okOps.Load() < 100 {
		t.Fatalf("only %d operations succeeded: the cluster barely made progress", okOps.Load())
	}
	res, info := porcupine.CheckOperationsVerbose(registerModel, h.ops, time.Minute)
	switch res {
	case porcupine.Illegal:
		path := filepath.Join(t.TempDir(), "linearizability.html")
		if f, err := os.Create(path); err == nil {
			_ = porcupine.Visualize(registerModel, info, f)
			f.Close()
			if dir := os.Getenv("SKIFF_TEST_ARTIFACTS"); dir != "" {
				_ = os.Rename(path, filepath.Join(dir, "linearizability.html"))
			}
		}
		t.Fatalf("history is not linearizable (visualisation: %s)\n%s", path, illegalTail(info, h.ops))
	case porcupine.Unknown:
		t.Logf("linearizability check timed out: result unknown")
	}

	// Every replica reaches the same state.
	c.WaitConverged(10 * time.Second)
	checkWatchHistory(t, c, seen)
}

// checkWatchHistory compares what the resuming watcher saw with a fresh
// watch of the whole history: same events, ordered, no gaps, no duplicates.
func checkWatchHistory(t *testing.T, c *storetest.Cluster, seen []*mvccpb.Event) {
	t.Helper()
	s := c.Nodes[c.Leader()].Store()
	end := s.Rev()
	w, err := s.Watch(t.Context(), raftstore.WatchRequest{Key: []byte("lin/"), RangeEnd: []byte("lin0"), StartRevision: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var want []*mvccpb.Event
	for len(want) == 0 || want[len(want)-1].Kv.ModRevision < end {
		select {
		case r := <-w.C:
			want = append(want, r.Events...)
		case <-time.After(5 * time.Second):
			t.Fatalf("reference watch stalled at %d of %d events", len(want), end)
		}
	}
	describe := func(evs []*mvccpb.Event) []string {
		var out []string
		for _, ev := range evs {
			out = append(out, fmt.Sprintf("%s %s=%s@%d", ev.Type, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision))
		}
		return out
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Kv.ModRevision <= seen[i-1].Kv.ModRevision {
			t.Fatalf("watch out of order or duplicated at %d: %v then %v", i, describe(seen[i-1:i]), describe(seen[i:i+1]))
		}
	}
	got := describe(seen)
	ref := describe(want)
	if len(got) > len(ref) || !slices.Equal(got, ref[:len(got)]) {
		t.Fatalf("resumed watch differs from history: got %d events, reference %d", len(got), len(ref))
	}
	if len(ref)-len(got) > 0 && len(got) < len(ref)/2 {
		t.Fatalf("watcher saw only %d of %d events", len(got), len(ref))
	}

	// Compacted history gives a clear error; resuming at the compaction works.
	mid := end / 2
	if _, err := s.Compact(t.Context(), &pb.CompactionRequest{Revision: mid}); err != nil {
		t.Fatal(err)
	}
	cw, err := s.Watch(t.Context(), raftstore.WatchRequest{Key: []byte("lin/"), RangeEnd: []byte("lin0"), StartRevision: mid - 1})
	if err != nil {
		t.Fatal(err)
	}
	r := <-cw.C
	cw.Close()
	if !r.Canceled || !errors.Is(r.Err, raftstore.ErrCompacted) || r.CompactRevision != mid {
		t.Fatalf("watch below compaction: %+v", r)
	}
}

func runOp(ctx context.Context, s *raftstore.Store, in regInput) (regOutput, error) {
	switch in.op {
	case opGet:
		resp, err := s.Range(ctx, &pb.RangeRequest{Key: []byte(in.key)})
		if err != nil {
			return regOutput{}, err
		}
		if len(resp.Kvs) == 0 {
			return regOutput{}, nil
		}
		return regOutput{value: string(resp.Kvs[0].Value)}, nil
	case opPut:
		_, err := s.Put(ctx, &pb.PutRequest{Key: []byte(in.key), Value: []byte(in.value)})
		return regOutput{}, err
	default:
		resp, err := s.Txn(ctx, &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte(in.key), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte(in.expect)}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(in.key), Value: []byte(in.value)}}}},
		})
		if err != nil {
			return regOutput{}, err
		}
		return regOutput{ok: resp.Succeeded}, nil
	}
}

// illegalTail describes where the check failed: the end of the longest
// partial linearization found for the illegal key, then the earliest
// operations that could not be added to it.
func illegalTail(info porcupine.LinearizationInfo, ops []porcupine.Operation) string {
	var b strings.Builder
	for _, part := range info.PartialLinearizationsOperations() {
		var longest []porcupine.Operation
		for _, lin := range part {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
		if len(longest) == 0 {
			continue
		}
		if porcupine.CheckOperations(registerModel, longest) && len(part) == 1 && false {
			continue
		}
		describe := func(prefix string, op porcupine.Operation) {
			fmt.Fprintf(&b, "%s client %d on %v [%d, %d] %s\n", prefix, op.ClientId, op.Metadata, op.Call/1e3, op.Return/1e3, registerModel.DescribeOperation(op.Input, op.Output))
		}
		in := map[[2]int64]bool{}
		for _, op := range longest {
			in[[2]int64{int64(op.ClientId), op.Call}] = true
		}
		fmt.Fprintf(&b, "key %s: longest linearization has %d operations; its end:\n", longest[0].Input.(regInput).key, len(longest))
		for _, op := range longest[max(0, len(longest)-10):] {
			describe("  lin", op)
		}
		var rest []porcupine.Operation
		key := longest[0].Input.(regInput).key
		for _, op := range ops {
			if op.Input.(regInput).key == key && !in[[2]int64{int64(op.ClientId), op.Call}] {
				rest = append(rest, op)
			}
		}
		slices.SortFunc(rest, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
		if len(rest) == 0 {
			continue
		}
		for _, op := range rest[:min(12, len(rest))] {
			describe("  not", op)
		}
	}
	return b.String()
}
