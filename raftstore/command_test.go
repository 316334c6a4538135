package raftstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Tests of the raft log entry formats (commands, batches, forwarded results,
// FSM snapshots) and of the FSM's handling of them, with fuzz tests of every
// decoder. `go test` runs only the seeds; run a fuzzer with
//
//	go test -run x -fuzz FuzzApplyCommand -fuzztime 30s ./raftstore/

// seedLease is the lease the populated state holds; key "e" is attached to it.
const seedLease = 7

func testFSM() *fsm { return newFSM(0, 0, slog.New(slog.DiscardHandler)) }

func mustEncode(tb testing.TB, t commandType, req proto.Message) []byte {
	tb.Helper()
	b, err := encodeCommand(t, req)
	if err != nil {
		tb.Fatalf("encode %s %v: %v", t, req, err)
	}
	return b
}

func batchOf(cmds ...[]byte) []byte {
	ps := make([]*proposal, len(cmds))
	size := 0
	for i, c := range cmds {
		ps[i] = &proposal{cmd: c}
		size += len(c)
	}
	return encodeBatch(ps, size)
}

// applyEntry applies one command entry at a raft index and returns its result.
func applyEntry(tb testing.TB, f *fsm, index uint64, data []byte) *applyResult {
	tb.Helper()
	out := f.ApplyBatch([]*raft.Log{{Type: raft.LogCommand, Index: index, Data: data}})
	if len(out) != 1 {
		tb.Fatalf("ApplyBatch of one entry gave %d results", len(out))
	}
	res, ok := out[0].(*applyResult)
	if !ok {
		tb.Fatalf("ApplyBatch result is %T, want *applyResult", out[0])
	}
	if got := f.applied.Load(); got != index {
		tb.Fatalf("applied index after entry %d is %d", index, got)
	}
	return res
}

// setupEntries build the populated state: lease 7, keys a..e at revisions
// 2..6 (e attached to the lease) and member n1.
func setupEntries(tb testing.TB) [][]byte {
	tb.Helper()
	out := [][]byte{mustEncode(tb, cmdLeaseGrant, &pb.LeaseGrantRequest{ID: seedLease, TTL: 60})}
	for i, k := range []string{"a", "b", "c", "d", "e"} {
		req := &pb.PutRequest{Key: []byte(k), Value: []byte(fmt.Sprint(i + 1))}
		if k == "e" {
			req.Lease = seedLease
		}
		out = append(out, mustEncode(tb, cmdPut, req))
	}
	return append(out, mustEncode(tb, cmdSetMember, &pb.Member{ID: 11, Name: "n1", PeerURLs: []string{"n1:7000"}, ClientURLs: []string{"inmem://n1"}}))
}

// populatedFSM returns an fsm that applied setup at indexes 1..len(setup).
func populatedFSM(tb testing.TB, setup [][]byte) *fsm {
	tb.Helper()
	f := testFSM()
	for i, e := range setup {
		if res := applyEntry(tb, f, uint64(i+1), e); res.err != nil {
			tb.Fatalf("setup entry %d: %v", i, res.err)
		}
	}
	return f
}

func nestedTxn() *pb.TxnRequest {
	return &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("1")}}},
		Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("t1"), Value: []byte("x")}}},
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z")}}},
			{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
				Compare: []*pb.Compare{{Key: []byte("b"), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Version{Version: 0}}},
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("c"), PrevKv: true}}}},
				Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("t2")}}}},
			}}},
		},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a")}}}},
	}
}

type sampleCommand struct {
	name string
	t    commandType
	req  proto.Message
}

// sampleCommands holds a request of every command type but batch, each of
// which succeeds on the populated state.
func sampleCommands() []sampleCommand {
	return []sampleCommand{
		{"put", cmdPut, &pb.PutRequest{Key: []byte("a"), Value: []byte("new"), PrevKv: true}},
		{"put-lease", cmdPut, &pb.PutRequest{Key: []byte("f"), Value: []byte("v"), Lease: seedLease}},
		{"put-ignore-value", cmdPut, &pb.PutRequest{Key: []byte("b"), IgnoreValue: true, IgnoreLease: true}},
		{"delete-range", cmdDeleteRange, &pb.DeleteRangeRequest{Key: []byte("b"), RangeEnd: []byte("d"), PrevKv: true}},
		{"delete-from-key", cmdDeleteRange, &pb.DeleteRangeRequest{Key: []byte("c"), RangeEnd: []byte{0}}},
		{"txn-nested", cmdTxn, nestedTxn()},
		{"compact", cmdCompact, &pb.CompactionRequest{Revision: 4, Physical: true}},
		{"lease-grant", cmdLeaseGrant, &pb.LeaseGrantRequest{ID: 99, TTL: 60}},
		{"lease-revoke", cmdLeaseRevoke, &pb.LeaseRevokeRequest{ID: seedLease}},
		{"set-member", cmdSetMember, &pb.Member{ID: 12, Name: "n2", PeerURLs: []string{"n2:7000"}, ClientURLs: []string{"inmem://n2"}, IsLearner: true}},
		{"barrier", cmdBarrier, &emptypb.Empty{}},
	}
}

// badCommand is a command that fails at apply on the populated state.
type badCommand struct {
	name string
	cmd  []byte
	want error
}

func badCommands(tb testing.TB) []badCommand {
	tb.Helper()
	put := func(k string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte("bad")}}}
	}
	return []badCommand{
		{"put-unknown-lease", mustEncode(tb, cmdPut, &pb.PutRequest{Key: []byte("bad1"), Lease: 404}), ErrLeaseNotFound},
		{"txn-bad-compare", mustEncode(tb, cmdTxn, &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_VALUE, TargetUnion: &pb.Compare_ModRevision{ModRevision: 1}}},
			Success: []*pb.RequestOp{put("bad2")},
		}), ErrBadCompare},
		{"empty", nil, ErrCorruptCommand},
		{"nested-batch", batchOf(mustEncode(tb, cmdPut, &pb.PutRequest{Key: []byte("bad3")})), ErrCorruptCommand},
		{"unknown-type", append([]byte{200}, mustEncode(tb, cmdPut, &pb.PutRequest{Key: []byte("bad4")})[1:]...), ErrUnknownCommand},
		{"corrupt-proto", []byte{byte(cmdPut), 0xff}, ErrCorruptCommand},
		{"txn-future-range", mustEncode(tb, cmdTxn, &pb.TxnRequest{Success: []*pb.RequestOp{
			put("bad5"),
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: 1 << 40}}},
		}}), ErrFutureRev},
		{"compact-future", mustEncode(tb, cmdCompact, &pb.CompactionRequest{Revision: 1 << 40}), ErrFutureRev},
		{"lease-revoke-unknown", mustEncode(tb, cmdLeaseRevoke, &pb.LeaseRevokeRequest{ID: 404}), ErrLeaseNotFound},
		{"put-ignore-value-missing", mustEncode(tb, cmdPut, &pb.PutRequest{Key: []byte("bad6"), IgnoreValue: true}), ErrKeyNotFound},
		{"lease-grant-exists", mustEncode(tb, cmdLeaseGrant, &pb.LeaseGrantRequest{ID: seedLease, TTL: 5}), ErrLeaseExists},
		{"put-lease-provided", mustEncode(tb, cmdPut, &pb.PutRequest{Key: []byte("bad7"), IgnoreLease: true, Lease: seedLease}), ErrLeaseProvided},
		{"delete-empty-key", mustEncode(tb, cmdDeleteRange, &pb.DeleteRangeRequest{}), ErrEmptyKey},
	}
}

// validEntries returns a well-formed entry of every command type, batches of
// several included.
func validEntries(tb testing.TB) [][]byte {
	tb.Helper()
	var out, all [][]byte
	for _, c := range sampleCommands() {
		e := mustEncode(tb, c.t, c.req)
		out = append(out, e)
		all = append(all, e)
	}
	out = append(out,
		batchOf(all[0], all[3], all[5]),
		batchOf(all...),
		batchOf(all[0], badCommands(tb)[0].cmd, badCommands(tb)[1].cmd, all[1]),
		batchOf(all[0], nil, all[2], nil),
		batchOf(),
		batchOf(all[4]),
	)
	return out
}

// seedCorpus is validEntries, each of them truncated, every bad command, and
// garbage.
func seedCorpus(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, e := range validEntries(tb) {
		out = append(out, e, e[:len(e)/2], e[:len(e)-1])
	}
	for _, b := range badCommands(tb) {
		out = append(out, b.cmd)
	}
	var bad [][]byte
	for _, b := range badCommands(tb) {
		bad = append(bad, b.cmd)
	}
	out = append(out, batchOf(bad...))
	out = append(out,
		[]byte{byte(cmdBatch)},
		[]byte{byte(cmdBatch), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		[]byte{byte(cmdBatch), 2, 1, byte(cmdBarrier)},
		[]byte{byte(cmdBatch), 1, 5, byte(cmdBarrier)},
		[]byte{byte(cmdBatch), 1, 1, byte(cmdBarrier), 0},
		[]byte{byte(cmdBatch), 0x80, 0x00},
		[]byte{0}, []byte{10}, []byte{255},
	)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 8; i++ {
		b := make([]byte, 1+r.IntN(64))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		out = append(out, b)
		out = append(out, append([]byte{byte(1 + i)}, b...))
	}
	return out
}

func TestEncodeDecodeEveryCommandType(t *testing.T) {
	for _, c := range sampleCommands() {
		data := mustEncode(t, c.t, c.req)
		got, req, err := decodeCommand(data)
		if err != nil {
			t.Fatalf("%s: decode: %v", c.name, err)
		}
		if got != c.t || !proto.Equal(req, c.req) {
			t.Fatalf("%s: decoded %s %v, want %s %v", c.name, got, req, c.t, c.req)
		}
	}
	for _, tc := range []struct {
		data []byte
		want error
	}{
		{nil, ErrCorruptCommand},
		{[]byte{0}, ErrUnknownCommand},
		{[]byte{byte(cmdBatch), 0}, ErrUnknownCommand}, // batches are decodeBatch's
		{[]byte{byte(cmdBatch) + 1}, ErrUnknownCommand},
		{[]byte{byte(cmdPut), 0x0a, 0x05, 'a'}, ErrCorruptCommand},
	} {
		if _, req, err := decodeCommand(tc.data); !errors.Is(err, tc.want) || req != nil {
			t.Fatalf("decodeCommand(%x) = %v, %v; want %v", tc.data, req, err, tc.want)
		}
	}
}

func TestApplyEveryCommandType(t *testing.T) {
	setup := setupEntries(t)
	for _, c := range sampleCommands() {
		f := populatedFSM(t, setup)
		res := applyEntry(t, f, uint64(len(setup)+1), mustEncode(t, c.t, c.req))
		if res.err != nil || res.resp == nil {
			t.Fatalf("%s: apply gave %v, %v", c.name, res.resp, res.err)
		}
		// The result survives the trip back to a follower that forwarded it.
		enc, err := encodeResult(*res)
		if err != nil {
			t.Fatalf("%s: encode result: %v", c.name, err)
		}
		back, err := decodeResult(c.t, enc)
		if err != nil || !proto.Equal(back, res.resp) {
			t.Fatalf("%s: result decoded as %v, %v; want %v", c.name, back, err, res.resp)
		}
	}
}

func TestResultErrorCodesRoundTrip(t *testing.T) {
	if resultErrors[0] != nil {
		t.Fatalf("code 0 must mean success, is %v", resultErrors[0])
	}
	for i, e := range resultErrors[1:] {
		code := i + 1
		for j, o := range resultErrors[1:] {
			if i != j && errors.Is(e, o) {
				t.Fatalf("code %d (%v) is also code %d (%v): ErrorCode cannot tell them apart", code, e, j+1, o)
			}
		}
		if got := ErrorCode(e); got != code {
			t.Fatalf("ErrorCode(%v) = %d, want %d", e, got, code)
		}
		if got := ErrorCode(fmt.Errorf("context: %w", e)); got != code {
			t.Fatalf("ErrorCode of wrapped %v = %d, want %d", e, got, code)
		}
		if got, ok := ErrorFromCode(code); !ok || got != e {
			t.Fatalf("ErrorFromCode(%d) = %v, %v; want %v", code, got, ok, e)
		}
		enc, err := encodeResult(applyResult{err: fmt.Errorf("context: %w", e)})
		if err != nil || !bytes.Equal(enc, []byte{byte(code)}) {
			t.Fatalf("encodeResult(%v) = %x, %v; want %x", e, enc, err, []byte{byte(code)})
		}
		for ct := cmdPut; ct <= cmdBatch; ct++ {
			if resp, err := decodeResult(ct, enc); resp != nil || err != e {
				t.Fatalf("decodeResult(%s, %x) = %v, %v; want %v", ct, enc, resp, err, e)
			}
		}
	}
	if got := ErrorCode(nil); got != 0 {
		t.Fatalf("ErrorCode(nil) = %d, want 0", got)
	}
	other := errors.New("raftstore: something else")
	if got := ErrorCode(other); got != -1 {
		t.Fatalf("ErrorCode(%v) = %d, want -1", other, got)
	}
	for _, code := range []int{-1, 0, len(resultErrors), 255} {
		if e, ok := ErrorFromCode(code); ok || e != nil {
			t.Fatalf("ErrorFromCode(%d) = %v, %v; want nil, false", code, e, ok)
		}
	}
	if len(resultErrors) >= 255 {
		t.Fatalf("%d result errors: code 255 is taken by uncoded errors", len(resultErrors))
	}
	enc, err := encodeResult(applyResult{err: other})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeResult(cmdPut, enc); err == nil || err.Error() != "raftstore: leader: "+other.Error() {
		t.Fatalf("uncoded error came back as %v", err)
	}
	if _, err := decodeResult(cmdPut, []byte{byte(len(resultErrors))}); !errors.Is(err, ErrCorruptCommand) {
		t.Fatalf("unknown result code gave %v, want %v", err, ErrCorruptCommand)
	}
	if _, err := decodeResult(cmdPut, nil); !errors.Is(err, ErrCorruptCommand) {
		t.Fatalf("empty result gave %v, want %v", err, ErrCorruptCommand)
	}
}

func TestBatchEncodingRoundTrip(t *testing.T) {
	put := mustEncode(t, cmdPut, &pb.PutRequest{Key: []byte("k"), Value: []byte("v")})
	maxReq := DefaultConfig().MaxRequestBytes
	big := func(n int) []byte {
		b := bytes.Repeat([]byte{0xa5}, n)
		b[0] = byte(cmdPut)
		return b
	}
	many := make([][]byte, maxBatchCommands)
	for i := range many {
		many[i] = mustEncode(t, cmdPut, &pb.PutRequest{Key: []byte(fmt.Sprintf("k%03d", i)), Value: bytes.Repeat([]byte{'v'}, i)})
	}
	for _, tc := range []struct {
		name string
		cmds [][]byte
	}{
		{"none", nil},
		{"one", [][]byte{put}},
		{"empty commands", [][]byte{nil, {}, put, nil}},
		{"only empty commands", [][]byte{nil, nil, nil}},
		{"most commands", many},
		// proposeLoop adds commands while the batch is under maxBatchBytes,
		// so the largest batch ends with a whole request just past it.
		{"most bytes", [][]byte{big(maxReq), big(maxReq), big(maxBatchBytes - 2*maxReq - 1), big(maxReq)}},
	} {
		enc := batchOf(tc.cmds...)
		got, err := decodeBatch(enc)
		if err != nil {
			t.Fatalf("%s: decode: %v", tc.name, err)
		}
		if len(got) != len(tc.cmds) {
			t.Fatalf("%s: decoded %d commands, want %d", tc.name, len(got), len(tc.cmds))
		}
		for i := range got {
			if !bytes.Equal(got[i], tc.cmds[i]) {
				t.Fatalf("%s: command %d decoded as %d bytes %.16x, want %d bytes %.16x", tc.name, i, len(got[i]), got[i], len(tc.cmds[i]), tc.cmds[i])
			}
		}
	}
}

func TestDecodeBatchRejectsMalformedFraming(t *testing.T) {
	ok := batchOf([]byte{byte(cmdBarrier)}, []byte{byte(cmdBarrier)})
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not a batch", []byte{byte(cmdPut), 0}},
		{"no count", []byte{byte(cmdBatch)}},
		{"count overflows", []byte{byte(cmdBatch), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}},
		{"count past end", []byte{byte(cmdBatch), 3, 0, 0}},
		{"second command missing", ok[:len(ok)-2]},
		{"length past end", []byte{byte(cmdBatch), 1, 2, byte(cmdBarrier)}},
		{"length overflows", []byte{byte(cmdBatch), 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"length is max uint64", append([]byte{byte(cmdBatch), 1}, binary.AppendUvarint(nil, ^uint64(0))...)},
		{"trailing bytes", append(ok[:len(ok):len(ok)], 0)},
	} {
		if cmds, err := decodeBatch(tc.data); !errors.Is(err, ErrCorruptCommand) || cmds != nil {
			t.Fatalf("%s: decodeBatch(%x) = %q, %v; want %v", tc.name, tc.data, cmds, err, ErrCorruptCommand)
		}
	}
}

// TestApplyBatchFailsOnlyBadCommands applies one batch entry mixing good
// commands with every kind of failing one: each fails alone with its own
// error, the good ones get consecutive revisions, and the state is as if only
// the good ones had been applied, each as its own entry.
func TestApplyBatchFailsOnlyBadCommands(t *testing.T) {
	setup := setupEntries(t)
	bad := badCommands(t)
	good := [][]byte{
		mustEncode(t, cmdPut, &pb.PutRequest{Key: []byte("x"), Value: []byte("1")}),
		mustEncode(t, cmdPut, &pb.PutRequest{Key: []byte("y"), Value: []byte("2")}),
		mustEncode(t, cmdDeleteRange, &pb.DeleteRangeRequest{Key: []byte("x")}),
	}
	// good[0], bad..., good[1], bad..., good[2]
	var cmds [][]byte
	var want []error
	cmds, want = append(cmds, good[0]), append(want, nil)
	for i, b := range bad {
		if i == len(bad)/2 {
			cmds, want = append(cmds, good[1]), append(want, nil)
		}
		cmds, want = append(cmds, b.cmd), append(want, b.want)
	}
	cmds, want = append(cmds, good[2]), append(want, nil)

	f := populatedFSM(t, setup)
	rev := f.kv.Rev()
	res := applyEntry(t, f, uint64(len(setup)+1), batchOf(cmds...))
	if res.err != nil || len(res.batch) != len(cmds) {
		t.Fatalf("batch of %d gave err %v and %d results", len(cmds), res.err, len(res.batch))
	}
	var revs []int64
	for i, r := range res.batch {
		if want[i] == nil {
			if r.err != nil || r.resp == nil {
				t.Fatalf("good command %d failed: %v", i, r.err)
			}
			revs = append(revs, r.resp.(interface{ GetHeader() *pb.ResponseHeader }).GetHeader().GetRevision())
			continue
		}
		if !errors.Is(r.err, want[i]) {
			t.Fatalf("command %d: got %v, %v; want %v", i, r.resp, r.err, want[i])
		}
	}
	for i, got := range revs {
		if got != rev+1+int64(i) {
			t.Fatalf("good commands got revisions %v, want %d, %d, %d", revs, rev+1, rev+2, rev+3)
		}
	}
	for _, k := range []string{"bad1", "bad2", "bad3", "bad4", "bad5", "bad6", "bad7", "x"} {
		if resp, err := f.kv.Range(&pb.RangeRequest{Key: []byte(k)}); err != nil || len(resp.Kvs) != 0 {
			t.Fatalf("key %s after batch: %v, %v; want none", k, resp.GetKvs(), err)
		}
	}
	if resp, err := f.kv.Range(&pb.RangeRequest{Key: []byte("y")}); err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].ModRevision != rev+2 {
		t.Fatalf("key y after batch: %v, %v; want one at revision %d", resp.GetKvs(), err, rev+2)
	}

	alone := populatedFSM(t, setup)
	for i, g := range good {
		if r := applyEntry(t, alone, uint64(len(setup)+1+i), g); r.err != nil {
			t.Fatalf("good command %d alone: %v", i, r.err)
		}
	}
	if got, want := f.kv.Hash(), alone.kv.Hash(); got != want {
		t.Fatalf("state after mixed batch %x, after the good commands alone %x", got, want)
	}

	// A batch of only bad commands changes nothing.
	g := populatedFSM(t, setup)
	before := g.kv.Hash()
	var only [][]byte
	for _, b := range bad {
		only = append(only, b.cmd)
	}
	res = applyEntry(t, g, uint64(len(setup)+1), batchOf(only...))
	for i, r := range res.batch {
		if !errors.Is(r.err, bad[i].want) {
			t.Fatalf("%s in a bad batch: %v, want %v", bad[i].name, r.err, bad[i].want)
		}
	}
	if after := g.kv.Hash(); after != before {
		t.Fatalf("batch of failing commands changed the state hash %x to %x", before, after)
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

func persistFSM(tb testing.TB, f *fsm) []byte {
	tb.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		tb.Fatalf("snapshot: %v", err)
	}
	defer snap.Release()
	return persistSnapshot(tb, snap)
}

func persistSnapshot(tb testing.TB, snap raft.FSMSnapshot) []byte {
	tb.Helper()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		tb.Fatalf("persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		tb.Fatalf("persist left the sink closed=%v cancelled=%v", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

func sameMembers(a, b map[string]*pb.Member) bool {
	if len(a) != len(b) {
		return false
	}
	for n, m := range a {
		if !proto.Equal(m, b[n]) {
			return false
		}
	}
	return true
}

// TestFSMSnapshotRoundTrip restores a snapshot into a fresh fsm: it has the
// applied index, member table and state hash of the moment the snapshot was
// taken (not of later entries applied while it was persisted), and applying
// the same entries afterwards leads both to the same state.
func TestFSMSnapshotRoundTrip(t *testing.T) {
	setup := setupEntries(t)
	f := populatedFSM(t, setup)
	idx := uint64(len(setup))
	for _, c := range sampleCommands()[:7] { // up to the compaction
		idx++
		if res := applyEntry(t, f, idx, mustEncode(t, c.t, c.req)); res.err != nil {
			t.Fatalf("%s: %v", c.name, res.err)
		}
	}
	idx++
	applyEntry(t, f, idx, mustEncode(t, cmdSetMember, &pb.Member{ID: 13, Name: "n3", PeerURLs: []string{"n3:7000"}}))
	wantHash, wantApplied := f.kv.Hash(), f.applied.Load()
	wantMembers := map[string]*pb.Member{}
	for n, m := range f.members {
		wantMembers[n] = m
	}
	if len(wantMembers) != 2 {
		t.Fatalf("setup: %d members, want 2", len(wantMembers))
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	later := [][]byte{
		mustEncode(t, cmdPut, &pb.PutRequest{Key: []byte("a"), Value: []byte("after snapshot")}),
		mustEncode(t, cmdLeaseRevoke, &pb.LeaseRevokeRequest{ID: seedLease}),
		mustEncode(t, cmdSetMember, &pb.Member{ID: 14, Name: "n4"}),
		mustEncode(t, cmdCompact, &pb.CompactionRequest{Revision: f.kv.Rev()}),
	}
	for i, e := range later {
		if res := applyEntry(t, f, idx+1+uint64(i), e); res.err != nil {
			t.Fatalf("later entry %d: %v", i, res.err)
		}
	}
	data := persistSnapshot(t, snap)

	g := testFSM()
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got := g.applied.Load(); got != wantApplied {
		t.Fatalf("restored applied index %d, want %d", got, wantApplied)
	}
	if got := g.kv.Hash(); got != wantHash {
		t.Fatalf("restored state hash %x, want %x", got, wantHash)
	}
	if !sameMembers(g.members, wantMembers) {
		t.Fatalf("restored members %v, want %v", g.members, wantMembers)
	}
	for i, e := range later {
		if res := applyEntry(t, g, idx+1+uint64(i), e); res.err != nil {
			t.Fatalf("later entry %d on the restored fsm: %v", i, res.err)
		}
	}
	if got, want := g.kv.Hash(), f.kv.Hash(); got != want {
		t.Fatalf("after the same entries: restored fsm hash %x, original %x", got, want)
	}
	if !sameMembers(g.members, f.members) || g.applied.Load() != f.applied.Load() {
		t.Fatalf("after the same entries: restored fsm at %d with %v, original at %d with %v", g.applied.Load(), g.members, f.applied.Load(), f.members)
	}
	if again := persistFSM(t, g); !bytes.Equal(again, persistFSM(t, f)) {
		t.Fatalf("snapshots of the restored and original fsm differ")
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, s := range seedCorpus(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, req, err := decodeCommand(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptCommand) && !errors.Is(err, ErrUnknownCommand) {
				t.Fatalf("decodeCommand failed with %v, want %v or %v", err, ErrCorruptCommand, ErrUnknownCommand)
			}
			if req != nil {
				t.Fatalf("decodeCommand returned %v with error %v", req, err)
			}
			return
		}
		if typ != commandType(data[0]) {
			t.Fatalf("decoded type %s from type byte %d", typ, data[0])
		}
		enc, err := encodeCommand(typ, req)
		if err != nil {
			t.Fatalf("re-encode %s %v: %v", typ, req, err)
		}
		typ2, req2, err := decodeCommand(enc)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v\n in  %x\n out %x", typ, err, data, enc)
		}
		if typ2 != typ || !proto.Equal(req, req2) {
			t.Fatalf("round trip changed %s %v into %s %v", typ, req, typ2, req2)
		}
		if enc2, err := encodeCommand(typ2, req2); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %x then %x (%v)", enc, enc2, err)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	for _, s := range seedCorpus(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds, err := decodeBatch(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptCommand) || cmds != nil {
				t.Fatalf("decodeBatch failed with %q, %v; want nil, %v", cmds, err, ErrCorruptCommand)
			}
			return
		}
		total := 0
		for _, c := range cmds {
			total += len(c)
		}
		if total+len(cmds)+2 > len(data) {
			t.Fatalf("decoded %d commands of %d bytes from %d bytes", len(cmds), total, len(data))
		}
		enc := batchOf(cmds...)
		back, err := decodeBatch(enc)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v\n in  %x\n out %x", err, data, enc)
		}
		if len(back) != len(cmds) {
			t.Fatalf("round trip gave %d commands, want %d", len(back), len(cmds))
		}
		for i := range back {
			if !bytes.Equal(back[i], cmds[i]) {
				t.Fatalf("round trip changed command %d from %x to %x", i, cmds[i], back[i])
			}
		}
		if len(enc) > len(data) {
			t.Fatalf("re-encoding grew the batch from %d to %d bytes", len(data), len(enc))
		}
	})
}

// resultSeeds are encodings of real results of every command type, of every
// error code, and of an uncoded error.
func resultSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	setup := setupEntries(tb)
	var out [][]byte
	add := func(r applyResult) {
		enc, err := encodeResult(r)
		if err != nil {
			tb.Fatalf("encode result %v: %v", r, err)
		}
		out = append(out, enc)
	}
	for _, c := range sampleCommands() {
		f := populatedFSM(tb, setup)
		add(*applyEntry(tb, f, uint64(len(setup)+1), mustEncode(tb, c.t, c.req)))
	}
	for _, e := range resultErrors {
		add(applyResult{err: e})
	}
	add(applyResult{err: errors.New("raftstore: apply: unexpected response")})
	add(applyResult{})
	n := len(out)
	for _, e := range out[:n] {
		out = append(out, e[:len(e)/2], append(e[:len(e):len(e)], 0xff))
	}
	return append(out, nil, []byte{byte(len(resultErrors))}, []byte{254})
}

func FuzzDecodeResult(f *testing.F) {
	for _, s := range resultSeeds(f) {
		f.Add(s)
	}
	types := []commandType{0, cmdPut, cmdDeleteRange, cmdTxn, cmdCompact, cmdLeaseGrant, cmdLeaseRevoke, cmdSetMember, cmdBarrier, cmdBatch, cmdBatch + 1, 255}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range types {
			resp, err := decodeResult(typ, data)
			if (resp == nil) == (err == nil) {
				t.Fatalf("decodeResult(%s, %x) = %v, %v: want exactly one", typ, data, resp, err)
			}
			if len(data) == 0 {
				if !errors.Is(err, ErrCorruptCommand) {
					t.Fatalf("empty result gave %v", err)
				}
				continue
			}
			switch code := int(data[0]); {
			case code == 255:
				if want := "raftstore: leader: " + string(data[1:]); err == nil || err.Error() != want {
					t.Fatalf("uncoded error %x came back as %v", data, err)
				}
			case code != 0:
				want, ok := ErrorFromCode(code)
				if !ok {
					if !errors.Is(err, ErrCorruptCommand) {
						t.Fatalf("unknown code %d gave %v, want %v", code, err, ErrCorruptCommand)
					}
					continue
				}
				if err != want || ErrorCode(err) != code {
					t.Fatalf("code %d gave %v (code %d), want %v", code, err, ErrorCode(err), want)
				}
			case err == nil:
				enc, err := encodeResult(applyResult{resp: resp})
				if err != nil {
					t.Fatalf("re-encode %s result %v: %v", typ, resp, err)
				}
				back, err := decodeResult(typ, enc)
				if err != nil || !proto.Equal(back, resp) {
					t.Fatalf("round trip of %s result %v gave %v, %v", typ, resp, back, err)
				}
			default:
				if !errors.Is(err, ErrCorruptCommand) && !errors.Is(err, ErrUnknownCommand) {
					t.Fatalf("decodeResult(%s, %x) failed with %v", typ, data, err)
				}
			}
		}
	})
}

// noMessage reports whether m is nil or a typed nil (a failed apply may
// return a nil *pb.PutResponse, say, alongside its error).
func noMessage(m proto.Message) bool { return m == nil || !m.ProtoReflect().IsValid() }

// failedWholly reports whether an entry's result is a failure of all of it:
// its own error, or a batch none of whose commands succeeded.
func failedWholly(r *applyResult) bool {
	if r.err != nil {
		return true
	}
	if len(r.batch) == 0 {
		return false
	}
	for _, b := range r.batch {
		if b.err == nil {
			return false
		}
	}
	return true
}

func FuzzApplyCommand(f *testing.F) {
	for _, s := range seedCorpus(f) {
		f.Add(s)
	}
	setup := setupEntries(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		entry := func(s *fsm, index uint64) {
			before, members := s.kv.Hash(), len(s.members)
			res := applyEntry(t, s, index, data)
			if res.err == nil && noMessage(res.resp) && res.batch == nil {
				t.Fatalf("entry %x gave neither a response, an error nor a batch", data)
			}
			for i, b := range res.batch {
				if (b.err == nil && noMessage(b.resp)) || b.batch != nil {
					t.Fatalf("batch command %d gave %v, %v, %d results", i, b.resp, b.err, len(b.batch))
				}
			}
			if failedWholly(res) {
				if after := s.kv.Hash(); after != before || len(s.members) != members {
					t.Fatalf("entry %x failed (%v) but changed the state hash %x to %x", data, res.err, before, after)
				}
			}
		}
		entry(testFSM(), 1)

		// On a populated state, and the same as its commands one entry each.
		a := populatedFSM(t, setup)
		next := uint64(len(setup) + 1)
		entry(a, next)
		if cmds, err := decodeBatch(data); err == nil {
			b := populatedFSM(t, setup)
			for i, c := range cmds {
				if len(c) > 0 && commandType(c[0]) == cmdBatch {
					continue // rejected inside a batch
				}
				applyEntry(t, b, next+uint64(i), c)
			}
			if a.kv.Hash() != b.kv.Hash() || !sameMembers(a.members, b.members) {
				t.Fatalf("batch %x and its commands applied one by one give different states", data)
			}
		} else {
			b := populatedFSM(t, setup)
			applyEntry(t, b, next, data)
			if a.kv.Hash() != b.kv.Hash() || !sameMembers(a.members, b.members) {
				t.Fatalf("entry %x applied twice to the same state gives different states", data)
			}
		}
	})
}

// snapshotSeeds are FSM snapshots: empty, populated, after every sample
// command, compacted; each also truncated and with a byte flipped.
func snapshotSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	setup := setupEntries(tb)
	var out [][]byte
	out = append(out, persistFSM(tb, testFSM()))
	f := populatedFSM(tb, setup)
	out = append(out, persistFSM(tb, f))
	for i, c := range sampleCommands() {
		applyEntry(tb, f, uint64(len(setup)+1+i), mustEncode(tb, c.t, c.req))
	}
	out = append(out, persistFSM(tb, f))
	n := len(out)
	for _, s := range out[:n] {
		flipped := bytes.Clone(s)
		flipped[len(flipped)*2/3] ^= 0x40
		out = append(out, s[:len(s)/2], s[:len(s)-1], append(s[:len(s):len(s)], 0), flipped)
	}
	hdr := []byte(fsmSnapshotMagic)
	return append(out,
		nil,
		hdr,
		append(bytes.Clone(hdr), 5, 0),
		append(bytes.Clone(hdr), 5, 0xff, 0xff, 0xff, 0x07), // member table just under the limit, absent
		append(bytes.Clone(hdr), 5, 3, 0xff, 0xff, 0xff),
		[]byte("skiff-fsm\x02"),
	)
}

func FuzzDecodeFSMSnapshot(f *testing.F) {
	for _, s := range snapshotSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		applied, kv, members, err := decodeFSMSnapshot(bytes.NewReader(data), 0)
		if err != nil {
			if kv != nil || members != nil {
				t.Fatalf("decodeFSMSnapshot returned state with error %v", err)
			}
			return
		}
		// Accepted: a member restored from it snapshots the same state.
		g := testFSM()
		if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			t.Fatalf("decoded, but Restore failed: %v", err)
		}
		again := persistFSM(t, g)
		applied2, kv2, members2, err := decodeFSMSnapshot(bytes.NewReader(again), 0)
		if err != nil {
			t.Fatalf("snapshot of a restored state does not decode: %v", err)
		}
		if applied2 != applied || kv2.Hash() != kv.Hash() || !sameMembers(members, members2) {
			t.Fatalf("snapshot round trip changed applied %d to %d, hash %x to %x, members %v to %v",
				applied, applied2, kv.Hash(), kv2.Hash(), members, members2)
		}
		// And it keeps working.
		res := applyEntry(t, g, applied+1, mustEncode(t, cmdPut, &pb.PutRequest{Key: []byte("fuzz"), Value: []byte("v")}))
		if res.err != nil && !errors.Is(res.err, ErrNoSpace) {
			t.Fatalf("put on a restored state: %v", res.err)
		}
	})
}
