package raftstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/raftstore/storetest"
)

// TestOnLeaderRunsOnlyOnTheLeader registers a task on every member and
// checks that exactly the leader runs it, that it stops when leadership is
// lost, and that the new leader starts it.
func TestOnLeaderRunsOnlyOnTheLeader(t *testing.T) {
	c := storetest.New(t, 3, nil)
	var mu sync.Mutex
	running := map[int]int{}
	started := make(chan int, 16)
	for i, n := range c.Nodes {
		n.Store().OnLeader(func(ctx context.Context) {
			mu.Lock()
			running[i]++
			mu.Unlock()
			started <- i
			<-ctx.Done()
			mu.Lock()
			running[i]--
			mu.Unlock()
		})
	}
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		total, who := 0, -1
		for i, n := range running {
			total += n
			if n > 0 {
				who = i
			}
		}
		return total, who
	}
	first := <-started
	if first != c.Leader() {
		t.Fatalf("task started on member %d, leader is %d", first, c.Leader())
	}
	if total, _ := count(); total != 1 {
		t.Fatalf("%d tasks running, want 1", total)
	}
	c.Isolate(first)
	deadline := time.Now().Add(10 * time.Second)
	for {
		total, who := count()
		if total == 1 && who != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after isolating the leader: %d tasks running (on %d), want 1 on another member", total, who)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Heal()
}
