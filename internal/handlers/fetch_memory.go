package handlers

import (
	"context"
	"sync/atomic"
	"time"
)

// fetchMemory bounds the record bytes that consumer Fetch responses hold
// at once, over all connections (fetch.memory.max.bytes). fetch.max.bytes
// bounds one response; without this, many consumers fetching at once (or
// not reading their responses) could make the broker hold connections x
// fetch.max.bytes. A fetch reserves what it may read before reading, keeps
// what it read until its response is written and gives the rest back at
// once. When the budget is spent a fetch reads nothing and answers empty
// at the end of its wait, as if no data had arrived: back-pressure, with no
// error for the client to handle. Follower fetches are exempt: they are as
// many as the brokers and replication must not starve.
type fetchMemory struct {
	free atomic.Int64
}

func newFetchMemory(total int64) *fetchMemory {
	m := &fetchMemory{}
	m.free.Store(total)
	return m
}

// reserve takes up to want bytes and returns how many it took.
func (m *fetchMemory) reserve(want int64) int64 {
	for {
		free := m.free.Load()
		n := min(want, free)
		if n <= 0 {
			return 0
		}
		if m.free.CompareAndSwap(free, free-n) {
			return n
		}
	}
}

// release gives back n reserved bytes.
func (m *fetchMemory) release(n int64) {
	if n > 0 {
		m.free.Add(n)
	}
}

// waitOut parks a fetch that got no memory until its wait is over (or its
// connection ends), so a consumer does not spin re-asking.
func waitOut(ctx context.Context, wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
