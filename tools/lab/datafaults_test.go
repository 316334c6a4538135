package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// raftDir makes a server directory with a raft.db of four pages and,
// if snaps, two snapshots (the newer one by term, not by name order).
func raftDir(t *testing.T, snaps bool) string {
	t.Helper()
	dir := t.TempDir()
	write := func(rel string, n int) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{0x5a}, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(raftLogFile, 4*4096)
	write("node/keep", 10)
	if snaps {
		write("snapshots/9-900-1/state.bin", 1000)
		write("snapshots/10-100-2/state.bin", 2000) // newest: term 10
		write("snapshots/11-200-3.tmp/state.bin", 3000)
	}
	return dir
}

// diff returns the offsets where two equally long byte slices differ.
func diff(a, b []byte) []int {
	var out []int
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			out = append(out, i)
		}
	}
	return out
}

func TestCorruptRaftData(t *testing.T) {
	tests := []struct {
		name     string
		snaps    bool
		pick     uint64
		file     string
		truncate bool
	}{
		{"flip the newest snapshot", true, 0, "snapshots/10-100-2/state.bin", false},
		{"truncate the newest snapshot", true, 1, "snapshots/10-100-2/state.bin", true},
		{"flip the log", true, 2, raftLogFile, false},
		{"truncate the log", true, 7, raftLogFile, true},
		{"no snapshot: flip the log instead", false, 4, raftLogFile, false},
		{"no snapshot: truncate the log instead", false, 5, raftLogFile, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := raftDir(t, tt.snaps)
			path := filepath.Join(dir, tt.file)
			before, _ := os.ReadFile(path)
			d, err := CorruptRaftData(dir, tt.pick)
			if err != nil {
				t.Fatal(err)
			}
			if d.File != tt.file || d.Truncate != tt.truncate || d.Size != int64(len(before)) {
				t.Fatalf("damage %+v, want %s truncate=%v of %d bytes", d, tt.file, tt.truncate, len(before))
			}
			after, _ := os.ReadFile(path)
			if tt.truncate {
				if int64(len(after)) != d.Offset || d.Offset < d.Size/4 || d.Offset > d.Size*3/4 || !bytes.Equal(after, before[:len(after)]) {
					t.Errorf("truncated to %d bytes (recorded %d of %d), want a prefix of a quarter to three quarters", len(after), d.Offset, d.Size)
				}
			} else {
				ds := diff(before, after)
				if len(after) != len(before) || len(ds) != 1 || int64(ds[0]) != d.Offset || before[ds[0]]^after[ds[0]] != 1<<d.Bit {
					t.Errorf("bytes differing %v (recorded byte %d bit %d), want exactly that bit", ds, d.Offset, d.Bit)
				}
				if tt.file == raftLogFile && d.Offset < 2*4096 {
					t.Errorf("flipped a bit in bbolt's meta pages (byte %d)", d.Offset)
				}
			}
			if d.String() == "" {
				t.Error("no description")
			}
			again := raftDir(t, tt.snaps)
			if d2, err := CorruptRaftData(again, tt.pick); err != nil || d2 != d {
				t.Errorf("the same pick damaged %+v (%v), then %+v", d, err, d2)
			}
		})
	}
	if _, err := CorruptRaftData(t.TempDir(), 2); err == nil {
		t.Error("damaging a directory without raft data succeeded")
	}
}

func TestWipeRaftDataKeepsTheRest(t *testing.T) {
	dir := raftDir(t, true)
	if err := WipeRaftData(dir); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{raftLogFile, snapshotsDir} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s survived the wipe: %v", gone, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node", "keep")); err != nil {
		t.Errorf("the node's data went with the raft data: %v", err)
	}
}

// TestDataFaultsRefuseRunningServersAndHostDisks: damage and wipes need a
// stopped server, filling needs the lab's own disk.
func TestDataFaultsRefuseRunningServersAndHostDisks(t *testing.T) {
	dir := t.TempDir()
	ino, err := nsIno("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	l := &Lab{logger: orDiscard(nil), state: State{Config: Config{Dir: dir}, VMs: []VM{{Name: "vm1", NetnsIno: ino}}}}
	if err := os.MkdirAll(l.ServerDir("vm1"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A recorded skiff that runs: this test process, in "its" VM.
	if err := os.WriteFile(l.pidPath("vm1", "skiff"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if running, err := l.serverRunning("vm1"); err != nil || !running {
		t.Fatalf("the faked server is not seen running (%v, %v)", running, err)
	}
	if _, err := l.CorruptRaft("vm1", 0); err == nil {
		t.Error("damaged the data of a running server")
	}
	if err := l.WipeRaft("vm1"); err == nil {
		t.Error("wiped the data of a running server")
	}
	if _, err := l.FillDisk("vm1"); err == nil {
		t.Error("filled a disk that is not the lab's own")
	}
	if _, err := os.Stat(filepath.Join(l.ServerDir("vm1"), fillFile)); !os.IsNotExist(err) {
		t.Errorf("a fill file was written on the host's disk: %v", err)
	}
	if err := l.MountDataDisk("nope", 1<<20); err == nil {
		t.Error("mounted a disk for an unknown VM")
	}
}
