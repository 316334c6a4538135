package raftstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// fullDisk fails every write after the first n.
type fullDisk struct {
	raft.LogStore
	n int
}

var errNoSpace = errors.New("write raft.db: no space left on device")

func (d *fullDisk) StoreLogs(logs []*raft.Log) error {
	if d.n <= 0 {
		return errNoSpace
	}
	d.n--
	return d.LogStore.StoreLogs(logs)
}

func (d *fullDisk) StoreLog(l *raft.Log) error { return d.StoreLogs([]*raft.Log{l}) }

func TestAFailedLogWriteStopsTheMember(t *testing.T) {
	f := newFailStopLogs(&fullDisk{LogStore: raft.NewInmemStore(), n: 1})
	if err := f.StoreLog(&raft.Log{Index: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-f.fatal:
		t.Fatalf("fatal after a good write: %v", err)
	default:
	}
	if err := f.StoreLogs([]*raft.Log{{Index: 2}}); !errors.Is(err, errNoSpace) {
		t.Fatalf("the failed write returned %v, want the store's error", err)
	}
	_ = f.StoreLog(&raft.Log{Index: 2}) // a second failure reports nothing more
	select {
	case err := <-f.fatal:
		if !errors.Is(err, errNoSpace) || !strings.Contains(err.Error(), "stopping") {
			t.Errorf("fatal error %v", err)
		}
	default:
		t.Fatal("no fatal error after a failed write")
	}
	select {
	case err := <-f.fatal:
		t.Errorf("a second fatal error: %v", err)
	default:
	}
}
