package e2e

import (
	"fmt"
	"sync"
	"testing"

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
