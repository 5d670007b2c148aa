package bench

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// clock is the time source of the send loop. Production uses the real
// clock; tests drive a fake one so the open-loop schedule is checked without
// sleeping or timing anything.
type clock interface {
	Now() time.Time
	// SleepUntil blocks until t or until ctx is done (returning its error).
	SleepUntil(ctx context.Context, t time.Time) error
}

// realClock is the wall/monotonic clock. Each sender goroutine owns one, so
// its timer is reused instead of allocated per record.
type realClock struct{ timer *time.Timer }

func (*realClock) Now() time.Time { return time.Now() }

func (c *realClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-c.timer.C:
		return nil
	case <-ctx.Done():
		c.timer.Stop()
		return ctx.Err()
	}
}

// schedule is an open-loop send plan: record i (counting from 0 across all
// senders) is meant to be sent at start + i/rate, whatever happened to the
// records before it.
//
// This is the fix for coordinated omission. A closed-loop tool waits for a
// send slot and times the request from when it actually went out, so while
// the system stalls it simply sends less and the stall never appears in its
// latency numbers. Here a record delayed by a stall is still timed from its
// intended send time, and the records that fell due during the stall are
// sent at once afterwards, each carrying its own share of the delay, as a
// real stream of users would have experienced it.
type schedule struct {
	start time.Time
	rate  float64 // records per second; > 0
}

// at returns when record i is meant to be sent. It multiplies from the start
// instead of adding an interval per record, so rounding never accumulates
// into drift over a long run.
func (s schedule) at(i int64) time.Time {
	return s.start.Add(time.Duration(math.Round(float64(i) * float64(time.Second) / s.rate)))
}

// ticketer hands out record numbers to concurrent senders and decides when
// the run is over: after limit records (when limit > 0) and, for timed runs,
// for the first record whose send time is at or after end.
type ticketer struct {
	next  atomic.Int64
	limit int64     // 0: no record limit
	end   time.Time // zero: no time limit
	plan  *schedule // nil: send as fast as possible
}

// take blocks until the next record is due and returns its number and
// intended send time. ok is false when the run is over or ctx is done.
// Without a schedule the intended time is simply now: there is no target
// to fall behind.
func (tk *ticketer) take(ctx context.Context, c clock) (i int64, intended time.Time, ok bool) {
	i = tk.next.Add(1) - 1
	if tk.limit > 0 && i >= tk.limit {
		return i, time.Time{}, false
	}
	if tk.plan == nil {
		intended = c.Now()
	} else {
		intended = tk.plan.at(i)
	}
	if !tk.end.IsZero() && !intended.Before(tk.end) {
		return i, intended, false
	}
	if tk.plan != nil {
		if err := c.SleepUntil(ctx, intended); err != nil {
			return i, intended, false
		}
	}
	if ctx.Err() != nil {
		return i, intended, false
	}
	return i, intended, true
}
