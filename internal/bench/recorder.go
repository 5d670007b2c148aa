package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// recorder accumulates one client's outcomes. kgo calls a client's promises
// serially and a consumer polls from one goroutine, so each recorder's lock
// is uncontended except for the once-a-second progress snapshot; one shared
// recorder would make every client queue on one lock.
type recorder struct {
	mu       sync.Mutex
	records  int64
	bytes    int64
	errors   int64
	firstErr error
	latency  Histogram // the whole run
	window   Histogram // since the last snapshot, for progress lines
}

// ok counts a successful record of n bytes delivered after lat.
func (r *recorder) ok(n int, lat time.Duration) {
	r.mu.Lock()
	r.addLocked(n)
	r.latencyLocked(lat)
	r.mu.Unlock()
}

// addLocked counts a record of n bytes; r.mu is held. Consumers hold the
// lock across a whole fetch instead of taking it per record.
func (r *recorder) addLocked(n int) {
	r.records++
	r.bytes += int64(n)
}

// latencyLocked records one latency; r.mu is held.
func (r *recorder) latencyLocked(lat time.Duration) {
	r.latency.RecordDuration(lat)
	r.window.RecordDuration(lat)
}

func (r *recorder) fail(err error) {
	r.mu.Lock()
	r.errors++
	if r.firstErr == nil {
		r.firstErr = err
	}
	r.mu.Unlock()
}

// counts is a point-in-time copy of a recorder's counters.
type counts struct{ records, bytes, errors int64 }

func (c counts) add(o counts) counts {
	return counts{c.records + o.records, c.bytes + o.bytes, c.errors + o.errors}
}

func (c counts) sub(o counts) counts {
	return counts{c.records - o.records, c.bytes - o.bytes, c.errors - o.errors}
}

// snapshot returns the counters and moves the window histogram into win.
func (r *recorder) snapshot(win *Histogram) counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	win.Merge(&r.window)
	r.window.Reset()
	return counts{r.records, r.bytes, r.errors}
}

// recorders is the set of per-client recorders of one side of a run.
type recorders []*recorder

func newRecorders(n int) recorders {
	rs := make(recorders, n)
	for i := range rs {
		rs[i] = &recorder{}
	}
	return rs
}

// snapshot sums the counters and merges the windows of every recorder.
func (rs recorders) snapshot(win *Histogram) counts {
	var c counts
	for _, r := range rs {
		c = c.add(r.snapshot(win))
	}
	return c
}

// count sums the counters alone, cheaply enough to call after every poll.
func (rs recorders) count() counts {
	var c counts
	for _, r := range rs {
		r.mu.Lock()
		c = c.add(counts{r.records, r.bytes, r.errors})
		r.mu.Unlock()
	}
	return c
}

// totals sums the counters, merges the run histograms and returns the first
// error any client saw. Call it once the clients are done.
func (rs recorders) totals() (counts, *Histogram, error) {
	var c counts
	var h Histogram
	var first error
	for _, r := range rs {
		r.mu.Lock()
		c = c.add(counts{r.records, r.bytes, r.errors})
		h.Merge(&r.latency)
		if first == nil {
			first = r.firstErr
		}
		r.mu.Unlock()
	}
	return c, &h, first
}

// progressSide is one side's (produce or consume) part of a progress line.
type progressSide struct {
	label   string // "produced", "consumed"
	total   counts
	delta   counts
	latName string // "ack", "e2e"; "" for none
	window  *Histogram
}

func formatProgress(elapsed, interval time.Duration, sides ...progressSide) string {
	line := fmt.Sprintf("%7.1fs", elapsed.Seconds())
	secs := interval.Seconds()
	for _, s := range sides {
		line += fmt.Sprintf("  %s %d (%.0f rec/s, %.2f MB/s", s.label, s.total.records,
			float64(s.delta.records)/secs, float64(s.delta.bytes)/secs/mb)
		if s.total.errors > 0 {
			line += fmt.Sprintf(", %d errors", s.total.errors)
		}
		line += ")"
		if s.latName != "" && s.window.Count() > 0 {
			l := s.window.Summary()
			line += fmt.Sprintf("  %s p50 %s p99 %s max %s", s.latName, ms(l.P50), ms(l.P99), ms(l.Max))
		}
	}
	return line
}

// progress writes a line to w at every tick until stop is called. The tick
// source is injected so tests need not wait for real seconds.
type progress struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startProgress calls line(elapsed, interval) on each tick and writes the
// result. A nil w disables it.
func startProgress(w io.Writer, ticks <-chan time.Time, start time.Time, line func(elapsed, interval time.Duration) string) *progress {
	ctx, cancel := context.WithCancel(context.Background())
	p := &progress{cancel: cancel, done: make(chan struct{})}
	if w == nil {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		last := start
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-ticks:
				fmt.Fprintln(w, line(now.Sub(start), now.Sub(last)))
				last = now
			}
		}
	}()
	return p
}

// stop ends the progress goroutine and waits for it, so no line is written
// after the final result.
func (p *progress) stop() {
	p.cancel()
	<-p.done
}

// newTicker returns the progress tick channel and its stop function.
func newTicker(interval time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(interval)
	return t.C, t.Stop
}
