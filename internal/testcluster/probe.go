package testcluster

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Probe produces single acks=all records to one partition, to measure how
// long a partition is unavailable for writes after a fault. Its records are
// not workload records: Verify counts them as foreign.
type Probe struct {
	cl        *kgo.Client
	topic     string
	partition int32
}

// NewProbe returns a probe for topic/partition whose client has already
// written one record, so its metadata and connections are warm and a later
// measurement does not include client start-up.
func (c *Cluster) NewProbe(t testing.TB, topic string, partition int32) *Probe {
	t.Helper()
	cl := c.Client(t,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(60*time.Second),
		// Retry quickly, so the measurement is the cluster's failover and
		// not the client's backoff.
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(20*time.Millisecond),
	)
	p := &Probe{cl: cl, topic: topic, partition: partition}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := p.produce(ctx); err != nil {
		t.Fatalf("probe %s[%d]: first produce: %v", topic, partition, err)
	}
	return p
}

func (p *Probe) produce(ctx context.Context) error {
	rec := &kgo.Record{Topic: p.topic, Partition: p.partition, Value: []byte("probe")}
	return p.cl.ProduceSync(ctx, rec).FirstErr()
}

// Since produces one record (retrying until it is acknowledged, at most
// timeout) and returns the time from since until the acknowledgement: with
// since = the moment of the fault, the partition's write failover time.
func (p *Probe) Since(t testing.TB, since time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := p.produce(ctx); err != nil {
		t.Fatalf("probe %s[%d]: no acks=all write succeeded within %v of the fault: %v", p.topic, p.partition, timeout, err)
	}
	return time.Since(since)
}
