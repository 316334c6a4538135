package history

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestRecorderPairsOperations(t *testing.T) {
	r := NewRecorder(nil)
	c := r.NewClient()
	w := r.Invoke(c, Write, "k", Input{Value: "a"})
	w.OK(Output{Rev: 5})
	x := r.Invoke(c, CAS, "k", Input{Value: "b", Expect: "z"})
	x.Fail(Output{Conflict: true}, errors.New("compare failed"))
	u := r.Invoke(r.NewClient(), Write, "k", Input{Value: "c"})
	u.Unknown(errors.New("deadline exceeded"))
	r.Invoke(c, Read, "k", Input{}) // never completed

	ops := r.History().Operations()
	tests := []struct {
		name    string
		status  Kind
		f       Func
		never   bool
		wantErr string
	}{
		{"write ok", OK, Write, false, ""},
		{"cas fail", Fail, CAS, false, "compare failed"},
		{"write unknown", Unknown, Write, true, "deadline exceeded"},
		{"read open", Unknown, Read, true, ""},
	}
	if len(ops) != len(tests) {
		t.Fatalf("got %d operations, want %d: %+v", len(ops), len(tests), ops)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := ops[i]
			if op.Status != tt.status || op.Func != tt.f || op.Err != tt.wantErr {
				t.Errorf("got status %s func %s err %q, want %s %s %q", op.Status, op.Func, op.Err, tt.status, tt.f, tt.wantErr)
			}
			if (op.Return == Never) != tt.never {
				t.Errorf("return %v, want never=%v", op.Return, tt.never)
			}
			if !tt.never && op.Return < op.Call {
				t.Errorf("return %v before call %v", op.Return, op.Call)
			}
		})
	}
	if ops[0].Out.Rev != 5 || ops[0].In.Value != "a" || !ops[1].Out.Conflict {
		t.Errorf("inputs/outputs lost: %+v %+v", ops[0], ops[1])
	}
	if ops[2].Client == c {
		t.Errorf("NewClient returned a used id %d", c)
	}
}

func TestSessions(t *testing.T) {
	r := NewRecorder(nil)
	c := r.NewClient()
	s1 := r.Invoke(c, Watch, "/p/", Input{Rev: 3})
	s1.Event("/p/a", Output{Value: "x", Rev: 3})
	s1.Event("/p/b", Output{Rev: 4, Deleted: true})
	s1.Fail(Output{}, errors.New("stream closed"))
	s2 := r.Invoke(c, Watch, "/p/", Input{Rev: 5})
	s2.Progress(9)
	s2.OK(Output{})
	ss := r.History().Sessions()
	if len(ss) != 2 {
		t.Fatalf("got %d sessions, want 2", len(ss))
	}
	if got := ss[0]; got.From != 3 || len(got.Events) != 2 || !got.Events[1].Deleted || got.Status != Fail || got.Through() != 4 {
		t.Errorf("session 1: %+v", got)
	}
	if got := ss[1]; got.From != 5 || got.Progress != 9 || got.Through() != 9 || got.Status != OK {
		t.Errorf("session 2: %+v", got)
	}
	if n := len(r.History().Operations()); n != 0 {
		t.Errorf("watch sessions listed as %d register operations", n)
	}
}

func TestFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	r, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := r.NewClient()
			for i := range 50 {
				op := r.Invoke(c, Write, "k", Input{Value: "v"})
				op.OK(Output{Rev: int64(i + 1)})
			}
		}()
	}
	wg.Wait()
	r.Final(r.NewClient(), "k", Output{Value: "v", Found: true, Rev: 50})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := r.History()
	if len(got) != len(want) || len(got) != 4*50*2+1 {
		t.Fatalf("read %d entries, recorded %d", len(got), len(want))
	}
	for i := range want {
		a, b := got[i], want[i]
		if a.Kind != b.Kind || a.Op != b.Op || a.Client != b.Client || a.Time != b.Time || a.Key != b.Key {
			t.Fatalf("entry %d: read %+v, recorded %+v", i, a, b)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i].Time < got[i-1].Time {
			t.Fatalf("entry %d time %v before entry %d time %v", i, got[i].Time, i-1, got[i-1].Time)
		}
	}
	if f := got.Finals()["k"]; f.Rev != 50 || !f.Found {
		t.Errorf("final value: %+v", f)
	}
}

func TestReadRejectsGarbage(t *testing.T) {
	_, err := Decode(bytes.NewBufferString("{\"kind\":\"ok\"}\nnot json\n"))
	if err == nil {
		t.Fatal("Read accepted a line that is not JSON")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v, want ErrNotExist", err)
	}
}

// FuzzDecode: a history file from a report directory is user input.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"kind":"invoke","op":1,"client":0,"time":5,"f":"cas","key":"k","in":{"value":"b","expect":"a"}}` + "\n" +
		`{"kind":"fail","op":1,"client":0,"time":9,"f":"cas","key":"k","out":{"conflict":true}}` + "\n"))
	f.Add([]byte(`{"kind":"event","op":2,"out":{"rev":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Whatever decodes, the views must not panic.
		_ = h.Operations()
		_ = h.Sessions()
		_ = h.Finals()
	})
}
