package e2e

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConcurrentProduceConsume: several producers write to a topic while a
// consumer tails it. The consumer sees every record exactly once, and each
// producer's records to a partition in the order it sent them — reads
// racing appends never expose a partial or reordered batch.
func TestConcurrentProduceConsume(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	topic := topicName(t, "concurrent")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 4, nil)

	const producers, perProducer = 4, 500
	consumer := newClient(t, b.KafkaAddr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	// The consumer is already polling (an empty topic) when producing starts.
	got := make(chan []*kgo.Record, 1)
	go func() {
		var all []*kgo.Record
		for len(all) < producers*perProducer && ctx.Err() == nil {
			fs := consumer.PollFetches(ctx)
			if fs.Err() != nil && ctx.Err() == nil {
				t.Errorf("consumer: %v", fs.Err())
				break
			}
			all = append(all, fs.Records()...)
		}
		got <- all
	}()

	var wg sync.WaitGroup
	for p := range producers {
		cl := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				r := &kgo.Record{Key: fmt.Appendf(nil, "p%d-k%d", p, i%7), Value: fmt.Appendf(nil, "%d/%d", p, i)}
				cl.Produce(ctx, r, func(r *kgo.Record, err error) {
					if err != nil {
						t.Errorf("producer %d record %d: %v", p, i, err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Errorf("producer %d flush: %v", p, err)
			}
		}()
	}
	wg.Wait()
	recs := <-got
	if t.Failed() {
		t.FailNow()
	}
	if len(recs) != producers*perProducer {
		t.Fatalf("consumer saw %d records, %d were produced", len(recs), producers*perProducer)
	}
	seen := make(map[string]bool)
	last := make(map[string]int) // "producer/partition" -> last sequence
	nextOffset := make(map[int32]int64)
	for _, r := range recs {
		v := string(r.Value)
		if seen[v] {
			t.Fatalf("record %s consumed twice", v)
		}
		seen[v] = true
		if r.Offset != nextOffset[r.Partition] {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, nextOffset[r.Partition]-1)
		}
		nextOffset[r.Partition] = r.Offset + 1
		var p, i int
		if _, err := fmt.Sscanf(v, "%d/%d", &p, &i); err != nil {
			t.Fatalf("unexpected record value %q", v)
		}
		k := fmt.Sprintf("%d/%d", p, r.Partition)
		if prev, ok := last[k]; ok && i <= prev {
			t.Fatalf("partition %d: producer %d's record %d after its record %d", r.Partition, p, i, prev)
		}
		last[k] = i
	}
}

// TestLargeProduceFramesIntact: producers on several connections send
// batches big enough (over 64 KiB per request) that the broker recycles
// their request frames. Every record consumed afterwards holds exactly the
// bytes its producer sent: no frame is reused while its records are still
// being written.
func TestLargeProduceFramesIntact(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	topic := topicName(t, "frames")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 3, nil)

	const producers, perProducer, size = 4, 150, 8 << 10
	// A name prefix, then a pattern that differs per record.
	full := func(p, i int) []byte {
		v := fmt.Appendf(nil, "%d/%d/", p, i)
		for j := range size {
			v = append(v, byte(p*131+i*7+j))
		}
		return v
	}
	var wg sync.WaitGroup
	for p := range producers {
		cl := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(20*time.Millisecond))
		wg.Go(func() {
			for i := range perProducer {
				cl.Produce(ctx, &kgo.Record{Value: full(p, i)}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("producer %d record %d: %v", p, i, err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Errorf("producer %d flush: %v", p, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	recs := consumeAll(t, ctx, b.KafkaAddr(), topic)
	if len(recs) != producers*perProducer {
		t.Fatalf("consumed %d records, produced %d", len(recs), producers*perProducer)
	}
	seen := make(map[string]bool)
	for _, r := range recs {
		var p, i int
		if _, err := fmt.Sscanf(string(r.Value), "%d/%d/", &p, &i); err != nil {
			t.Fatalf("record at %d/%d does not start with its name: %q", r.Partition, r.Offset, r.Value[:min(len(r.Value), 20)])
		}
		if !bytes.Equal(r.Value, full(p, i)) {
			t.Fatalf("record %d/%d (partition %d offset %d) was altered", p, i, r.Partition, r.Offset)
		}
		seen[fmt.Sprint(p, "/", i)] = true
	}
	if len(seen) != producers*perProducer {
		t.Fatalf("%d distinct records, want %d", len(seen), producers*perProducer)
	}
}
