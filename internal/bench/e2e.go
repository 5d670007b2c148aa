package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// stamp is the 16-byte header of an e2e record's value: the run's id and
// the record's intended send time in Unix nanoseconds, both big-endian. The
// id lets the consumer skip records another writer put on the topic.
// Producer and consumer run in this process, so they share one clock.
type stamp struct{ id uint64 }

// put writes the header into v (at least stampSize bytes) and returns v.
func (s *stamp) put(v []byte, sent time.Time) []byte {
	binary.BigEndian.PutUint64(v[0:8], s.id)
	binary.BigEndian.PutUint64(v[8:16], uint64(sent.UnixNano()))
	return v
}

// read returns the send time in v's header, if v is this run's record.
func (s *stamp) read(v []byte) (sentNanos int64, ok bool) {
	if len(v) < stampSize || binary.BigEndian.Uint64(v[0:8]) != s.id {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v[8:16])), true
}

// RunE2E produces and consumes at once and reports end-to-end latency: from
// each record's intended send time (open-loop, as in RunProduce) to the
// moment a consumer received it. The consumers start at the end offsets
// the partitions had before producing began, so they see every record
// produced. After producing stops, RunE2E waits up to o.Timeout for the
// consumers to receive every acknowledged record; if they do not, the full
// Result comes back with an error wrapping ErrIncomplete.
func RunE2E(ctx context.Context, o E2EOptions) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.Common = o.withDefaults()
	adm, err := newAdmin(o.Common)
	if err != nil {
		return nil, err
	}
	parts, err := adm.partitions(ctx, o.Topic, true, o.Partitions, o.ReplicationFactor)
	var ends map[int32]int64
	if err == nil {
		ends, err = adm.offsets(ctx, o.Topic, true)
	}
	adm.close()
	if err != nil {
		return nil, err
	}

	st := &stamp{id: rand.Uint64() | 1}
	var perClient [][]kgo.Opt
	for _, ps := range splitPartitions(parts, o.Consumers) {
		assign := make(map[int32]kgo.Offset, len(ps))
		for _, p := range ps {
			assign[p] = kgo.NewOffset().At(ends[p])
		}
		perClient = append(perClient, []kgo.Opt{
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: assign}),
		})
	}
	cr, err := newConsumerRun(o.Common, perClient, st)
	if err != nil {
		return nil, err
	}
	defer cr.close()
	pr, err := newProducerRun(o.Common, o.ProducerConfig, st)
	if err != nil {
		return nil, err
	}
	defer pr.close()

	// The consumers get their own context: they must keep reading after
	// producing ends, and stop only once drained.
	consumeCtx, stopConsuming := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsuming()
	polled := make(chan struct{}, 1)
	start := time.Now()
	wg := cr.start(consumeCtx, func(kgo.Fetches) {
		select {
		case polled <- struct{}{}:
		default:
		}
	})
	pr.setSchedule(start, o.ProducerConfig)
	ticks, stopTicks := newTicker(o.ProgressInterval)
	defer stopTicks()
	prodSide, consSide := pr.progressSide(), cr.progressSide()
	prog := startProgress(o.Progress, ticks, start, func(elapsed, interval time.Duration) string {
		return formatProgress(elapsed, interval, prodSide(), consSide())
	})

	produceElapsed := pr.run(ctx, start)
	pc, ackLat, prodErr := pr.recs.totals()
	incomplete := drain(ctx, cr.recs, pc.records, polled, o.Timeout)
	consumeElapsed := time.Since(start)
	stopConsuming()
	wg.Wait()
	prog.stop()

	cc, e2eLat, consErr := cr.recs.totals()
	res := &Result{
		Kind:        "e2e",
		Topic:       o.Topic,
		Partitions:  len(parts),
		Started:     start,
		Elapsed:     consumeElapsed,
		Interrupted: ctx.Err() != nil,
		Produce:     newThroughput(len(pr.clients), pc, produceElapsed),
		Consume:     newThroughput(len(cr.clients), cc, consumeElapsed),
		AckLatency:  summaryOrNil(ackLat),
		E2ELatency:  summaryOrNil(e2eLat),
		Config:      o,
	}
	if err := failedErr(pc, prodErr); err != nil {
		return res, err
	}
	if incomplete && !res.Interrupted {
		err := fmt.Errorf("%w: %d of %d received within %s", ErrIncomplete, cc.records, pc.records, o.Timeout)
		if consErr != nil {
			err = fmt.Errorf("%w; first fetch error: %w", err, consErr)
		}
		return res, err
	}
	return res, nil
}

// drain waits until the consumers have received want records, ctx is done
// or timeout passes (reporting true only for the timeout). It wakes on
// each poll rather than polling the counters on a timer.
func drain(ctx context.Context, recs recorders, want int64, polled <-chan struct{}, timeout time.Duration) (timedOut bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for recs.count().records < want {
		select {
		case <-polled:
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	return false
}
