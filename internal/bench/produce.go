package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// payloadWindow is how far record values are spread over the random
// payload. Values are slices of one shared buffer (no copy per record), at
// offsets far enough apart that a batch is not a run of identical values a
// compressor would flatter.
const payloadWindow = 4 << 20

// RunProduce produces to o.Topic (creating it if missing) until o.Records
// records have been sent or o.Duration has passed, and reports throughput
// and the latency from each record's intended send time to its
// acknowledgement. If any record failed it returns the full Result together
// with an error wrapping ErrRecordsFailed. Cancelling ctx stops sending,
// waits for the records in flight and returns the partial Result with
// Interrupted set.
func RunProduce(ctx context.Context, o ProduceOptions) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.Common = o.withDefaults()
	adm, err := newAdmin(o.Common)
	if err != nil {
		return nil, err
	}
	parts, err := adm.partitions(ctx, o.Topic, true, o.Partitions, o.ReplicationFactor)
	adm.close()
	if err != nil {
		return nil, err
	}
	p, err := newProducerRun(o.Common, o.ProducerConfig, nil)
	if err != nil {
		return nil, err
	}
	defer p.close()

	start := time.Now()
	p.setSchedule(start, o.ProducerConfig)
	ticks, stopTicks := newTicker(o.ProgressInterval)
	defer stopTicks()
	side := p.progressSide()
	prog := startProgress(o.Progress, ticks, start, func(elapsed, interval time.Duration) string {
		return formatProgress(elapsed, interval, side())
	})
	elapsed := p.run(ctx, start)
	prog.stop()

	res := &Result{
		Kind:        "produce",
		Topic:       o.Topic,
		Partitions:  len(parts),
		Started:     start,
		Elapsed:     elapsed,
		Interrupted: ctx.Err() != nil,
		Config:      o,
	}
	c, lat, first := p.recs.totals()
	res.Produce = newThroughput(len(p.clients), c, elapsed)
	res.AckLatency = summaryOrNil(lat)
	return res, failedErr(c, first)
}

// failedErr reports failed records, if any.
func failedErr(c counts, first error) error {
	if c.errors == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d %w, first: %w", c.errors, c.errors+c.records, ErrRecordsFailed, first)
}

// producerRun is the produce side of a produce or e2e run: N clients fed
// by one shared send schedule.
type producerRun struct {
	cfg      ProducerConfig
	clients  []*kgo.Client
	recs     recorders
	tickets  ticketer
	payload  []byte
	stamp    *stamp    // e2e only: values start with the run id and send time
	pool     sync.Pool // *kgo.Record, recycled in the promise
	timeout  time.Duration
	newClock func() clock
}

func newProducerRun(c Common, cfg ProducerConfig, st *stamp) (*producerRun, error) {
	acks, err := parseAcks(cfg.Acks)
	if err != nil {
		return nil, err
	}
	codec, err := parseCompression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	extra := []kgo.Opt{
		kgo.DefaultProduceTopic(c.Topic),
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(cfg.Linger),
		kgo.RecordDeliveryTimeout(max(c.Timeout, time.Second)),
	}
	if cfg.BatchMaxBytes > 0 {
		extra = append(extra, kgo.ProducerBatchMaxBytes(cfg.BatchMaxBytes))
	}
	if cfg.StickyBytes > 0 {
		extra = append(extra, kgo.RecordPartitioner(kgo.UniformBytesPartitioner(int(cfg.StickyBytes), true, true, nil)))
	}
	if !cfg.Idempotent {
		extra = append(extra, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
	}
	cls, err := newClients(cfg.Producers, c.kgoOpts(extra...))
	if err != nil {
		return nil, err
	}
	return &producerRun{
		cfg:      cfg,
		clients:  cls,
		recs:     newRecorders(len(cls)),
		payload:  newPayload(cfg.RecordSize+payloadWindow, rand.New(rand.NewPCG(1, 1))),
		stamp:    st,
		timeout:  c.Timeout,
		newClock: func() clock { return &realClock{} },
	}, nil
}

func (p *producerRun) close() { closeAll(p.clients) }

// setSchedule fixes when the run starts and stops. With neither a record
// nor a time limit the run lasts DefaultDuration.
func (p *producerRun) setSchedule(start time.Time, cfg ProducerConfig) {
	p.tickets.limit = cfg.Records
	d := cfg.Duration
	if d == 0 && cfg.Records == 0 {
		d = DefaultDuration
	}
	if d > 0 {
		p.tickets.end = start.Add(d)
	}
	if cfg.Rate > 0 {
		p.tickets.plan = &schedule{start: start, rate: cfg.Rate}
	}
}

// run sends until the schedule ends or ctx is done, then waits for every
// record's outcome and returns the time from start to the last outcome.
func (p *producerRun) run(ctx context.Context, start time.Time) time.Duration {
	var wg sync.WaitGroup
	for i, cl := range p.clients {
		rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i)))
		wg.Go(func() { p.send(ctx, cl, p.recs[i], p.newClock(), rng) })
	}
	wg.Wait()
	// Records already handed to the client are waited for even after
	// ctx is cancelled: each is bounded by the delivery timeout.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*max(p.timeout, time.Second))
	defer cancel()
	for _, cl := range p.clients {
		_ = cl.Flush(flushCtx) // unflushed records fail on Close and are counted there
	}
	return time.Since(start)
}

// send is one client's send loop.
func (p *producerRun) send(ctx context.Context, cl *kgo.Client, rec *recorder, clk clock, rng *rand.Rand) {
	// Records must not be cancelled by ctx once handed over (that would
	// count an interrupted run's tail as failures); ctx only stops taking
	// new tickets.
	sendCtx := context.WithoutCancel(ctx)
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			rec.fail(err)
		} else {
			// r.Timestamp is the intended send time and still holds
			// its monotonic clock reading.
			rec.ok(len(r.Key)+len(r.Value), time.Since(r.Timestamp))
		}
		p.pool.Put(r)
	}
	for {
		i, intended, ok := p.tickets.take(ctx, clk)
		if !ok {
			return
		}
		cl.Produce(sendCtx, p.record(i, intended, rng), promise)
	}
}

// record builds record i from a recycled Record. Its timestamp is the
// intended send time: the broker stores it as CreateTime and the promise
// measures latency from it.
func (p *producerRun) record(i int64, intended time.Time, rng *rand.Rand) *kgo.Record {
	r, _ := p.pool.Get().(*kgo.Record)
	if r == nil {
		r = new(kgo.Record)
	}
	p.fill(r, i, intended, rng)
	return r
}

// fill makes r record i, reusing r's key and value buffers.
func (p *producerRun) fill(r *kgo.Record, i int64, intended time.Time, rng *rand.Rand) {
	key, value := r.Key[:0], r.Value[:0]
	*r = kgo.Record{Timestamp: intended}
	switch p.cfg.Keys {
	case KeysRandom:
		r.Key = strconv.AppendInt(key, rng.Int64N(p.cfg.KeySpace), 10)
	case KeysSeq:
		r.Key = strconv.AppendInt(key, i%p.cfg.KeySpace, 10)
	}
	size := p.cfg.RecordSize
	// A prime stride spreads consecutive records across the window.
	off := int((uint64(i) * 7919) % uint64(len(p.payload)-size+1))
	src := p.payload[off : off+size : off+size]
	if p.stamp == nil {
		r.Value = src // shared and read-only: kgo never writes to values
	} else {
		// e2e values are owned (every Record in this run's pool has
		// its own buffer), because the stamp differs per record.
		r.Value = p.stamp.put(append(value, src...), intended)
	}
}

// progressSide returns a function producing the produce side's part of a
// progress line.
func (p *producerRun) progressSide() func() progressSide {
	var last counts
	var win Histogram
	return func() progressSide {
		win.Reset()
		c := p.recs.snapshot(&win)
		s := progressSide{label: "produced", total: c, delta: c.sub(last), latName: "ack", window: &win}
		last = c
		return s
	}
}

// newPayload returns n random upper-case letters, as kafka-producer-perf-test
// generates, from a fixed seed so runs are comparable.
func newPayload(n int, rng *rand.Rand) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := i; j < min(i+8, n); j++ {
			b[j] = 'A' + byte(v%26)
			v >>= 8
		}
	}
	return b
}
