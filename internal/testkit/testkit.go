// Package testkit holds the helpers Spool's tests share: a clock that moves
// only when told to and bounded polling for conditions that become true
// asynchronously. Only test files import it, so the broker binary does not
// link it.
package testkit

import (
	"sync"
	"testing"
	"time"
)

// Clock is a fake clock that only moves when told to. It is safe for
// concurrent use; its zero value starts at the Unix epoch.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed, recent-looking time (2023-11-14),
// so timestamps in failures are readable.
func NewClock() *Clock { return &Clock{now: time.UnixMilli(1_700_000_000_000)} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Ms is the clock's time in Unix milliseconds.
func (c *Clock) Ms() int64 { return c.Now().UnixMilli() }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Eventually polls cond every few milliseconds until it reports true, and
// fails the test, saying what it waited for, if within does not suffice.
// For conditions no event announces; where one does, wait for the event.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
