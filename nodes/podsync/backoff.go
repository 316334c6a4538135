package podsync

import (
	"sync"
	"time"
)

// The kubelet's CrashLoopBackOff: the first restart is at once, then 10 s,
// doubling up to 5 min; a container that ran cleanly for 10 min (twice the
// cap) starts again from 10 s.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 2 * backoffMax
)

// backoff is the kubelet's flowcontrol.Backoff for one node: per key (a pod's
// container, or its image) the current delay and when it last grew.
type backoff struct {
	mu      sync.Mutex
	entries map[string]*backoffEntry
}

type backoffEntry struct {
	delay      time.Duration
	lastUpdate time.Time
}

func newBackoff() *backoff { return &backoff{entries: map[string]*backoffEntry{}} }

// wait says how long a restart of key must still wait after an event at
// since (the container's exit), given the time now. Zero means restart now;
// then the delay grows for the next time (next must be called).
func (b *backoff) wait(key string, since, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || now.Sub(e.lastUpdate) > backoffReset {
		return 0
	}
	if d := e.delay - now.Sub(since); d > 0 {
		return d
	}
	return 0
}

// next records a restart of key at now and grows its delay.
func (b *backoff) next(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	switch {
	case !ok || now.Sub(e.lastUpdate) > backoffReset:
		e = &backoffEntry{delay: backoffInitial}
		b.entries[key] = e
	default:
		e.delay = min(2*e.delay, backoffMax)
	}
	e.lastUpdate = now
	return e.delay
}

// current is key's delay (for the CrashLoopBackOff message).
func (b *backoff) current(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		return e.delay
	}
	return backoffInitial
}

// forget drops keys with the prefix (a pod that is gone).
func (b *backoff) forget(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(b.entries, k)
		}
	}
}
