package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RunConsume reads o.Topic and reports throughput. Without a group the
// partitions are dealt round-robin to the consumers; with one, the consumers
// join it and the group protocol assigns them. It stops at o.Records, after
// o.Duration, or, with neither and not tailing, once every partition has
// been read to the end offset it had when the run began (so the run reads
// exactly what was there). Cancelling ctx stops it and returns the partial
// Result with Interrupted set.
//
// The read-to-end stop looks at record offsets, so a partition whose last
// entry is a transaction marker (which consumers never see) is only left by
// a limit or ctx; benchmark topics written by RunProduce have none.
func RunConsume(ctx context.Context, o ConsumeOptions) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.Common = o.withDefaults()
	plan, err := planConsume(ctx, o)
	if err != nil {
		return nil, err
	}
	cr, err := newConsumerRun(o.Common, plan.clientOpts, nil)
	if err != nil {
		return nil, err
	}
	defer cr.close()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	finished := make(chan struct{})
	var finish sync.Once
	done := func() { finish.Do(func() { close(finished) }) }
	tracker := newEndTracker(plan.ends)
	var total atomic.Int64
	after := func(fs kgo.Fetches) {
		if plan.readToEnd && tracker.observe(fs) {
			done()
		}
		if o.Records > 0 && total.Add(int64(fs.NumRecords())) >= o.Records {
			done()
		}
	}
	if plan.readToEnd && tracker.finished() {
		done() // nothing to read
	}

	start := time.Now()
	ticks, stopTicks := newTicker(o.ProgressInterval)
	defer stopTicks()
	side := cr.progressSide()
	prog := startProgress(o.Progress, ticks, start, func(elapsed, interval time.Duration) string {
		return formatProgress(elapsed, interval, side())
	})
	wg := cr.start(runCtx, after)
	var deadline <-chan time.Time
	if plan.duration > 0 {
		t := time.NewTimer(plan.duration)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case <-finished:
	case <-deadline:
	case <-ctx.Done():
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	prog.stop()

	c, _, first := cr.recs.totals()
	res := &Result{
		Kind:        "consume",
		Topic:       o.Topic,
		Partitions:  plan.partitions,
		Started:     start,
		Elapsed:     elapsed,
		Interrupted: ctx.Err() != nil,
		Consume:     newThroughput(len(cr.clients), c, elapsed),
		Config:      o,
	}
	if c.errors > 0 {
		return res, fmt.Errorf("%d fetch errors, first: %w", c.errors, first)
	}
	return res, nil
}

// consumePlan is what RunConsume works out before it starts consuming.
type consumePlan struct {
	partitions int
	clientOpts [][]kgo.Opt     // one entry per consumer
	readToEnd  bool            // stop at ends
	ends       map[int32]int64 // partitions with records to read, and where they end
	duration   time.Duration   // 0: no time limit
}

func planConsume(ctx context.Context, o ConsumeOptions) (*consumePlan, error) {
	adm, err := newAdmin(o.Common)
	if err != nil {
		return nil, err
	}
	defer adm.close()
	parts, err := adm.partitions(ctx, o.Topic, false, 0, 0)
	if err != nil {
		return nil, err
	}
	plan := &consumePlan{
		partitions: len(parts),
		readToEnd:  o.Records == 0 && o.Duration == 0 && !o.Tail,
		duration:   o.Duration,
	}
	if o.Records == 0 && o.Duration == 0 && o.Tail {
		plan.duration = DefaultDuration
	}
	if plan.readToEnd {
		starts, err := adm.offsets(ctx, o.Topic, false)
		if err != nil {
			return nil, err
		}
		ends, err := adm.offsets(ctx, o.Topic, true)
		if err != nil {
			return nil, err
		}
		plan.ends = make(map[int32]int64)
		for p, end := range ends {
			if end > starts[p] {
				plan.ends[p] = end
			}
		}
	}
	at := kgo.NewOffset().AtStart()
	if o.Tail {
		at = kgo.NewOffset().AtEnd()
	}
	if o.Group != "" {
		for range o.Consumers {
			plan.clientOpts = append(plan.clientOpts, []kgo.Opt{
				kgo.ConsumerGroup(o.Group), kgo.ConsumeTopics(o.Topic), kgo.ConsumeResetOffset(at),
			})
		}
		return plan, nil
	}
	for _, ps := range splitPartitions(parts, o.Consumers) {
		assign := make(map[int32]kgo.Offset, len(ps))
		for _, p := range ps {
			assign[p] = at
		}
		plan.clientOpts = append(plan.clientOpts, []kgo.Opt{
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: assign}),
		})
	}
	return plan, nil
}

// endTracker notices when every partition has been read up to its target
// end offset.
type endTracker struct {
	mu        sync.Mutex
	remaining map[int32]int64
}

func newEndTracker(ends map[int32]int64) *endTracker {
	rem := make(map[int32]int64, len(ends))
	for p, e := range ends {
		rem[p] = e
	}
	return &endTracker{remaining: rem}
}

// observe records how far fs reached and reports whether every partition
// is now done. The benchmark reads one topic, so partition ids suffice.
func (t *endTracker) observe(fs kgo.Fetches) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if n := len(p.Records); n > 0 {
			if end, ok := t.remaining[p.Partition]; ok && p.Records[n-1].Offset+1 >= end {
				delete(t.remaining, p.Partition)
			}
		}
	})
	return len(t.remaining) == 0
}

func (t *endTracker) finished() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.remaining) == 0
}

// consumerRun is the consume side of a consume or e2e run.
type consumerRun struct {
	clients []*kgo.Client
	recs    recorders
	stamp   *stamp // e2e: count only stamped records and time them
}

func newConsumerRun(c Common, perClient [][]kgo.Opt, st *stamp) (*consumerRun, error) {
	cr := &consumerRun{stamp: st}
	for _, opts := range perClient {
		cl, err := kgo.NewClient(c.kgoOpts(opts...)...)
		if err != nil {
			cr.close()
			return nil, fmt.Errorf("%w: client: %w", ErrInvalidOptions, err)
		}
		cr.clients = append(cr.clients, cl)
	}
	cr.recs = newRecorders(len(cr.clients))
	return cr, nil
}

func (cr *consumerRun) close() { closeAll(cr.clients) }

// start runs every client's poll loop until ctx is done; after, if not
// nil, is called after each poll has been counted.
func (cr *consumerRun) start(ctx context.Context, after func(kgo.Fetches)) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, cl := range cr.clients {
		wg.Go(func() { cr.loop(ctx, cl, cr.recs[i], after) })
	}
	return &wg
}

func (cr *consumerRun) loop(ctx context.Context, cl *kgo.Client, rec *recorder, after func(kgo.Fetches)) {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		now := time.Now().UnixNano()
		fs.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				rec.fail(fmt.Errorf("fetching %s[%d]: %w", topic, partition, err))
			}
		})
		rec.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			if cr.stamp == nil {
				rec.addLocked(len(r.Key) + len(r.Value))
				return
			}
			sent, ok := cr.stamp.read(r.Value)
			if !ok {
				return // another writer's record
			}
			rec.addLocked(len(r.Key) + len(r.Value))
			rec.latencyLocked(time.Duration(now - sent))
		})
		rec.mu.Unlock()
		if after != nil {
			after(fs)
		}
	}
}

// progressSide returns a function producing the consume side's part of a
// progress line.
func (cr *consumerRun) progressSide() func() progressSide {
	var last counts
	var win Histogram
	return func() progressSide {
		win.Reset()
		c := cr.recs.snapshot(&win)
		s := progressSide{label: "consumed", total: c, delta: c.sub(last), window: &win}
		if cr.stamp != nil {
			s.latName = "e2e"
		}
		last = c
		return s
	}
}
