package raftstore

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// failStopLogs is the raft log store with etcd's answer to a log it cannot write (a full
// disk, an I/O error): the member stops instead of carrying on. hashicorp/raft answers such a
// failure by refusing the entries and going on; a member whose disk came back could then be
// left behind with replication to it stalled. Stopping makes the failure plain — the process
// exits with the error, its supervisor restarts it, and it catches up from its peers.
type failStopLogs struct {
	raft.LogStore
	once  sync.Once
	fatal chan error
}

func newFailStopLogs(inner raft.LogStore) *failStopLogs {
	return &failStopLogs{LogStore: inner, fatal: make(chan error, 1)}
}

func (f *failStopLogs) fail(err error) error {
	f.once.Do(func() { f.fatal <- fmt.Errorf("raftstore: the raft log cannot be written, stopping: %w", err) })
	return err
}

// StoreLog implements raft.LogStore.
func (f *failStopLogs) StoreLog(l *raft.Log) error {
	if err := f.LogStore.StoreLog(l); err != nil {
		return f.fail(err)
	}
	return nil
}

// StoreLogs implements raft.LogStore.
func (f *failStopLogs) StoreLogs(logs []*raft.Log) error {
	if err := f.LogStore.StoreLogs(logs); err != nil {
		return f.fail(err)
	}
	return nil
}

// Fatal delivers the error that makes this member unfit to go on (its raft log could not be
// written); the caller should Close the store and exit, to be restarted.
func (s *Store) Fatal() <-chan error { return s.failStop.fatal }
