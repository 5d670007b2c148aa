package bench

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeClock advances only when told to, or when a sender sleeps: a sleep
// jumps straight to its wake-up time and is logged.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := t.Sub(c.now); d > 0 {
		c.sleeps = append(c.sleeps, d)
		c.now = t
	}
	return ctx.Err()
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) takeSleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sleeps
	c.sleeps = nil
	return s
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestScheduleAt(t *testing.T) {
	for _, c := range []struct {
		rate float64
		i    int64
		want time.Duration
	}{
		{1000, 0, 0},
		{1000, 1, time.Millisecond},
		{1000, 2500, 2500 * time.Millisecond},
		{0.5, 3, 6 * time.Second},
		// 1/3 s per record: no drift after a million records.
		{3, 1_000_000, 333_333*time.Second + 333_333_333},
		{3, 3_000_000_000, 1_000_000_000 * time.Second},
	} {
		s := schedule{start: t0, rate: c.rate}
		if got := s.at(c.i).Sub(t0); got != c.want {
			t.Errorf("rate %v: record %d at +%v, want +%v", c.rate, c.i, got, c.want)
		}
	}
}

// TestTicketerPacesOnTime: with the sender keeping up, each record waits
// for its slot and is timed from it.
func TestTicketerPacesOnTime(t *testing.T) {
	clk := &fakeClock{now: t0}
	tk := &ticketer{limit: 5, plan: &schedule{start: t0, rate: 1000}}
	for want := range int64(5) {
		i, intended, ok := tk.take(context.Background(), clk)
		if !ok || i != want {
			t.Fatalf("take = %d, %v; want record %d", i, ok, want)
		}
		if got := intended.Sub(t0); got != time.Duration(want)*time.Millisecond {
			t.Fatalf("record %d intended at +%v, want +%dms", i, got, want)
		}
		if !clk.Now().Equal(intended) {
			t.Fatalf("record %d released at %v, before/after its slot %v", i, clk.Now(), intended)
		}
	}
	sleeps := clk.takeSleeps()
	if len(sleeps) != 4 {
		t.Fatalf("sleeps %v, want four of 1ms (record 0 is due at once)", sleeps)
	}
	for _, d := range sleeps {
		if d != time.Millisecond {
			t.Fatalf("sleeps %v, want 1ms each", sleeps)
		}
	}
	if _, _, ok := tk.take(context.Background(), clk); ok {
		t.Fatal("a sixth record was handed out with limit 5")
	}
}

// TestTicketerOpenLoopAfterStall is the coordinated-omission case: the send
// path blocks for 10ms. The records that fell due meanwhile are released at
// once, without sleeping, and keep their original intended times, so the
// latency measured from them includes the stall.
func TestTicketerOpenLoopAfterStall(t *testing.T) {
	clk := &fakeClock{now: t0}
	tk := &ticketer{plan: &schedule{start: t0, rate: 1000}}
	ctx := context.Background()
	for range 3 { // records 0, 1, 2 on time
		if _, _, ok := tk.take(ctx, clk); !ok {
			t.Fatal("take failed")
		}
	}
	clk.takeSleeps()
	clk.advance(10 * time.Millisecond) // stall while sending record 2: now +12ms

	var delays []time.Duration
	for want := int64(3); want <= 12; want++ {
		i, intended, ok := tk.take(ctx, clk)
		if !ok || i != want {
			t.Fatalf("take = %d, %v; want record %d", i, ok, want)
		}
		if got := intended.Sub(t0); got != time.Duration(i)*time.Millisecond {
			t.Fatalf("record %d intended at +%v, want +%dms (its original slot)", i, got, i)
		}
		delays = append(delays, clk.Now().Sub(intended))
	}
	if s := clk.takeSleeps(); len(s) != 0 {
		t.Fatalf("slept %v while behind schedule; a closed loop would, an open loop must not", s)
	}
	// Record 3 was due 9ms before it could go; record 12 is exactly on time.
	if delays[0] != 9*time.Millisecond || delays[len(delays)-1] != 0 {
		t.Fatalf("delays from intended time %v, want 9ms down to 0", delays)
	}
	// Caught up: record 13 waits for its slot again.
	if _, intended, ok := tk.take(ctx, clk); !ok || intended.Sub(t0) != 13*time.Millisecond {
		t.Fatalf("record 13 intended at +%v", intended.Sub(t0))
	}
	if s := clk.takeSleeps(); len(s) != 1 || s[0] != time.Millisecond {
		t.Fatalf("sleeps %v after catching up, want one of 1ms", s)
	}
}

// TestTicketerEndsAtDeadline: a timed run hands out exactly the records
// whose slots fall before the end, rate * duration of them.
func TestTicketerEndsAtDeadline(t *testing.T) {
	clk := &fakeClock{now: t0}
	tk := &ticketer{end: t0.Add(2 * time.Second), plan: &schedule{start: t0, rate: 250}}
	n := 0
	for {
		_, _, ok := tk.take(context.Background(), clk)
		if !ok {
			break
		}
		n++
		if n > 1000 {
			t.Fatal("run did not end")
		}
	}
	if n != 500 {
		t.Fatalf("handed out %d records in 2s at 250/s, want 500", n)
	}
}

// TestTicketerUnpacedDeadline: without a rate, records are handed out
// without sleeping until the clock passes the end.
func TestTicketerUnpacedDeadline(t *testing.T) {
	clk := &fakeClock{now: t0}
	tk := &ticketer{end: t0.Add(time.Second)}
	for range 100 {
		if _, intended, ok := tk.take(context.Background(), clk); !ok || !intended.Equal(clk.Now()) {
			t.Fatal("unpaced take refused before the deadline, or intended time is not now")
		}
	}
	clk.advance(time.Second)
	if _, _, ok := tk.take(context.Background(), clk); ok {
		t.Fatal("take succeeded at the deadline")
	}
	if s := clk.takeSleeps(); len(s) != 0 {
		t.Fatalf("unpaced sender slept %v", s)
	}
}

// TestTicketerSharedBySenders: several senders drawing from one ticketer
// together follow the one schedule: every slot is used exactly once.
func TestTicketerSharedBySenders(t *testing.T) {
	clk := &fakeClock{now: t0}
	tk := &ticketer{limit: 3000, plan: &schedule{start: t0, rate: 1e6}}
	var mu sync.Mutex
	seen := make(map[int64]time.Duration)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				i, intended, ok := tk.take(context.Background(), clk)
				if !ok {
					return
				}
				mu.Lock()
				seen[i] = intended.Sub(t0)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 3000 {
		t.Fatalf("%d distinct records, want 3000", len(seen))
	}
	for i, at := range seen {
		if at != time.Duration(i)*time.Microsecond {
			t.Fatalf("record %d intended at +%v, want +%dµs", i, at, i)
		}
	}
}

func TestTicketerStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	clk := &fakeClock{now: t0}
	for _, tk := range []*ticketer{{}, {plan: &schedule{start: t0, rate: 10}}} {
		if _, _, ok := tk.take(ctx, clk); ok {
			t.Fatalf("take succeeded on a cancelled context (paced %v)", tk.plan != nil)
		}
	}
}

// TestRecordReuseDoesNotAllocate: the send loop recycles Records (through a
// sync.Pool) and fill reuses a recycled Record's key and value buffers, so
// steady-state sending allocates nothing of its own per record.
func TestRecordReuseDoesNotAllocate(t *testing.T) {
	for _, st := range []*stamp{nil, {id: 7}} {
		cfg := DefaultProducerConfig()
		cfg.Keys, cfg.KeySpace, cfg.RecordSize = KeysSeq, 1000, 64
		p := &producerRun{cfg: cfg, payload: newPayload(cfg.RecordSize+4096, rand.New(rand.NewPCG(1, 1))), stamp: st}
		rng := rand.New(rand.NewPCG(1, 2))
		r := new(kgo.Record)
		p.fill(r, 999, t0, rng) // first use sizes the buffers
		var i int64
		allocs := testing.AllocsPerRun(1000, func() {
			p.fill(r, i, t0, rng)
			if len(r.Value) != 64 || string(r.Key) != strconv.FormatInt(i%1000, 10) || !r.Timestamp.Equal(t0) {
				t.Fatalf("record %d: key %q, %d-byte value, timestamp %v", i, r.Key, len(r.Value), r.Timestamp)
			}
			if st != nil {
				if sent, ok := st.read(r.Value); !ok || sent != t0.UnixNano() {
					t.Fatalf("record %d: stamp not readable", i)
				}
			}
			i++
		})
		if allocs != 0 {
			t.Errorf("stamped %v: %.2f allocations per record", st != nil, allocs)
		}
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	v := int64(1)
	for b.Loop() {
		h.Record(v)
		v = v*31 + 7&(1<<40-1)
	}
}
