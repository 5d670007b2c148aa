package testcluster

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// WorkloadOptions shape the load a Workload produces.
type WorkloadOptions struct {
	// Topic receives the records; it must exist.
	Topic string
	// Producers is the number of independent producer clients; 0 means 3.
	Producers int
	// Rate is records per second per producer; 0 means 100.
	Rate int
	// Keys is the number of distinct record keys (spread over partitions
	// by the default hash partitioner); 0 means 16.
	Keys int
	// DeliveryTimeout bounds how long a producer retries one record;
	// 0 means 60 s, enough to outlast any failover the scenarios cause.
	DeliveryTimeout time.Duration
}

// Workload is N producers writing keyed records whose values name their
// producer and sequence number, and the ledger of every record the cluster
// acknowledged (acks=all, idempotent) with its partition and offset.
type Workload struct {
	c      *Cluster
	opts   WorkloadOptions
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   sync.Once

	acked  atomic.Int64
	failed atomic.Int64
	// flushFor bounds how long stopping producers wait for records in
	// flight (nanoseconds): the delivery timeout for Verify, little when a
	// failed test is being torn down.
	flushFor atomic.Int64
	ackCh    chan struct{} // signalled (non-blocking) on every ack

	mu     sync.Mutex
	ledger map[recordID]position
	errs   map[string]int // failure reasons and counts
}

// recordID names one produced record.
type recordID struct{ producer, seq int }

// position is where the cluster said it stored a record.
type position struct {
	partition int32
	offset    int64
}

// StartWorkload starts the producers; they run until Stop or Verify, and
// at the latest until t ends.
func (c *Cluster) StartWorkload(t testing.TB, opts WorkloadOptions) *Workload {
	t.Helper()
	if opts.Producers == 0 {
		opts.Producers = 3
	}
	if opts.Rate == 0 {
		opts.Rate = 100
	}
	if opts.Keys == 0 {
		opts.Keys = 16
	}
	if opts.DeliveryTimeout == 0 {
		opts.DeliveryTimeout = 60 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Workload{c: c, opts: opts, cancel: cancel, ackCh: make(chan struct{}, 1),
		ledger: make(map[recordID]position), errs: make(map[string]int)}
	for p := range opts.Producers {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(c.Seeds()...),
			kgo.ClientID(fmt.Sprintf("testcluster-producer-%d", p)),
			kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is franz-go's default
			kgo.RecordDeliveryTimeout(opts.DeliveryTimeout),
			kgo.MetadataMinAge(100*time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		)
		if err != nil {
			cancel()
			t.Fatalf("producer client: %v", err)
		}
		w.wg.Add(1)
		go w.produce(ctx, cl, p)
	}
	t.Cleanup(func() { w.stopWithin(2 * time.Second) })
	return w
}

// produce writes records at the configured rate until ctx ends, then waits
// for every record in flight to be acknowledged or to fail.
func (w *Workload) produce(ctx context.Context, cl *kgo.Client, producer int) {
	defer w.wg.Done()
	defer cl.Close()
	tick := time.NewTicker(time.Second / time.Duration(w.opts.Rate))
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), time.Duration(w.flushFor.Load()))
			cl.Flush(fctx)
			cancel()
			return
		case <-tick.C:
		}
		rec := &kgo.Record{
			Topic: w.opts.Topic,
			Key:   []byte("k" + strconv.Itoa(seq%w.opts.Keys)),
			Value: encodeValue(producer, seq),
		}
		id := recordID{producer, seq}
		// Not ctx: stopping the workload must not fail records already
		// handed to the client; Flush waits for them.
		cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
			w.record(id, r, err)
		})
	}
}

func (w *Workload) record(id recordID, r *kgo.Record, err error) {
	w.mu.Lock()
	if err != nil {
		w.errs[err.Error()]++
		w.failed.Add(1)
	} else {
		w.ledger[id] = position{r.Partition, r.Offset}
		w.acked.Add(1)
	}
	w.mu.Unlock()
	if err == nil {
		select {
		case w.ackCh <- struct{}{}:
		default:
		}
	}
}

// encodeValue and decodeValue define the record format: "w<producer>:<seq>".
func encodeValue(producer, seq int) []byte {
	return fmt.Appendf(nil, "w%d:%d", producer, seq)
}

func decodeValue(v []byte) (recordID, bool) {
	s, ok := strings.CutPrefix(string(v), "w")
	if !ok {
		return recordID{}, false
	}
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return recordID{}, false
	}
	p, err1 := strconv.Atoi(a)
	q, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return recordID{}, false
	}
	return recordID{p, q}, true
}

// Acked is the number of records acknowledged so far.
func (w *Workload) Acked() int64 { return w.acked.Load() }

// Failed is the number of records the producers gave up on so far.
func (w *Workload) Failed() int64 { return w.failed.Load() }

// WaitAcked waits until n more records than now have been acknowledged,
// failing t after timeout: the proof that writes continue.
func (w *Workload) WaitAcked(t testing.TB, n int64, timeout time.Duration) {
	t.Helper()
	target := w.Acked() + n
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for w.Acked() < target {
		select {
		case <-w.ackCh:
		case <-deadline.C:
			t.Fatalf("only %d of %d more records acknowledged within %v (failures: %s)",
				w.Acked()-(target-n), n, timeout, w.failureSummary())
		}
	}
}

// Stop ends production and waits until every record in flight has been
// acknowledged or has failed. Idempotent.
func (w *Workload) Stop() { w.stopWithin(w.opts.DeliveryTimeout + 5*time.Second) }

func (w *Workload) stopWithin(flush time.Duration) {
	w.stop.Do(func() {
		w.flushFor.Store(int64(flush))
		w.cancel()
		w.wg.Wait()
	})
}

func (w *Workload) failureSummary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) == 0 {
		return "none"
	}
	var parts []string
	for e, n := range w.errs {
		parts = append(parts, fmt.Sprintf("%d× %s", n, e))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// snapshot copies the ledger (after Stop it no longer changes).
func (w *Workload) snapshot() map[recordID]position {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[recordID]position, len(w.ledger))
	for k, v := range w.ledger {
		out[k] = v
	}
	return out
}
