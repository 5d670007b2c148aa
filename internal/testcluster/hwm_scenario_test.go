package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestScenarioWholeClusterRestartKeepsEnd: a whole RF=3 cluster under an
// acks=all load is stopped (every broker, SIGTERM: the high watermarks are
// checkpointed at shutdown) and started again. The first end offsets the
// restarted cluster lists, and the position a new consumer group with
// auto.offset.reset=latest starts at, must be the end from before the stop
// (at least every acknowledged offset + 1), not the log start.
func TestScenarioWholeClusterRestartKeepsEnd(t *testing.T) {
	wholeClusterRestart(t, func(c *Cluster) {
		for _, id := range c.IDs() {
			c.Stop(id)
		}
	})
}

// TestScenarioWholeClusterCrashKeepsEnd is the same with every broker
// killed (kill -9): the periodic checkpoint taken after the last
// acknowledgement restores the end.
func TestScenarioWholeClusterCrashKeepsEnd(t *testing.T) {
	wholeClusterRestart(t, func(c *Cluster) {
		time.Sleep(time.Second) // several checkpoint intervals after the last ack
		for _, id := range c.IDs() {
			c.Kill(id)
		}
	})
}

// wholeClusterRestart runs both. After a whole-cluster restart the
// controller leaves each ISR with one member (a re-registered broker
// leaves the ISRs it is not the last member of), and a leader alone in its
// ISR takes its own durable end as its watermark at once; so the listing
// and the group check would also pass without a checkpoint, and the
// checkpoint files themselves are checked too (checkpointedEnds). The
// restart of a leader whose ISR still holds followers is covered by the
// partition package's TestRestartedLeaderKeepsCheckpointedHighWatermark.
func wholeClusterRestart(t *testing.T, stop func(c *Cluster)) {
	const partitions = 3
	c := Start(t, Options{Brokers: 3, Set: map[string]string{
		// The last broker to stop has no quorum to move leadership with.
		"controlled.shutdown.timeout.ms":                "2000",
		"replica.high.watermark.checkpoint.interval.ms": "200",
	}})
	c.WaitHealthy(t, healthyTimeout)
	topic := topicName(t, "restart")
	createTopic(t, c, topicSpec{Name: topic, Partitions: partitions, RF: 3,
		Configs: map[string]string{"min.insync.replicas": "2"}})
	c.WaitHealthy(t, healthyTimeout)
	w := c.StartWorkload(t, WorkloadOptions{Topic: topic})
	w.WaitAcked(t, 300, 30*time.Second)
	w.Stop()
	need := make(map[int32]int64)
	for _, pos := range w.snapshot() {
		need[pos.partition] = max(need[pos.partition], pos.offset+1)
	}
	if len(need) != partitions {
		t.Fatalf("acknowledged records on %d partitions, want %d: %v", len(need), partitions, need)
	}
	t.Logf("acknowledged ends before the stop: %v", need)

	stop(c)
	checkpointedEnds(t, c, topic, need)
	restarted := time.Now()
	c.RestartAll(c.IDs()...)

	// The first complete listing (every partition has a leader again)
	// must already show the old end: no waiting for it to grow.
	var ends kadm.ListedOffsets
	c.WaitFor(t, failoverTimeout, "end offsets of every partition", func(ctx context.Context) (bool, string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...))
		if err != nil {
			return false, err.Error()
		}
		defer cl.Close()
		ends, err = kadm.NewClient(cl).ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return false, err.Error()
		}
		return len(ends[topic]) == partitions, fmt.Sprintf("%d partitions listed", len(ends[topic]))
	})
	t.Logf("first end offsets %v after %v", ends[topic], time.Since(restarted).Round(time.Millisecond))
	for p, n := range need {
		if o, _ := ends.Lookup(topic, p); o.Offset < n {
			t.Errorf("partition %d: ListOffsets(latest) right after the restart = %d; acknowledged up to %d", p, o.Offset, n-1)
		}
	}

	// A new group at "latest" starts at the old end: the first record
	// it reads on each partition is one produced after the restart.
	ctx := testContext(t, 60*time.Second)
	consumer := c.Client(t, kgo.ConsumerGroup(topicName(t, "latest")), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	producer := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	first := make(map[int32]int64)
	for round := 0; len(first) < partitions; round++ {
		if ctx.Err() != nil {
			t.Fatalf("the new group read only %v", first)
		}
		var recs []*kgo.Record
		for p := range int32(partitions) {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "after-%d", round)})
		}
		if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("producing after the restart: %v", err)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := consumer.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if _, seen := first[r.Partition]; !seen {
				first[r.Partition] = r.Offset
				if r.Offset < need[r.Partition] {
					t.Errorf("partition %d: a new group at latest started at %d (%q); the end before the restart was %d",
						r.Partition, r.Offset, r.Value, need[r.Partition])
				}
			}
		})
	}
	t.Logf("new group at latest started at %v", first)
	w.Verify(t)
}

// checkpointedEnds reads every stopped node's replication-offset-checkpoint
// (Kafka's format, which Kafka's own tools read) and checks that each
// partition of topic has an entry on every replica and that some replica
// checkpointed at least the acknowledged end.
func checkpointedEnds(t *testing.T, c *Cluster, topic string, need map[int32]int64) {
	t.Helper()
	best := make(map[int32]int64)
	for _, id := range c.IDs() {
		path := filepath.Join(c.DataDir(id), "replication-offset-checkpoint")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) < 2 || lines[0] != "0" || lines[1] != strconv.Itoa(len(lines)-2) {
			t.Fatalf("node %d: malformed %s: %q", id, path, data)
		}
		seen := make(map[int32]bool)
		for _, l := range lines[2:] {
			var (
				name string
				p    int32
				off  int64
			)
			if _, err := fmt.Sscanf(l, "%s %d %d", &name, &p, &off); err != nil {
				t.Fatalf("node %d: line %q: %v", id, l, err)
			}
			if name == topic {
				seen[p] = true
				best[p] = max(best[p], off)
			}
		}
		for p := range need {
			if !seen[p] {
				t.Errorf("node %d: no checkpointed high watermark for %s[%d]", id, topic, p)
			}
		}
	}
	for p, n := range need {
		if best[p] < n {
			t.Errorf("%s[%d]: highest checkpointed high watermark %d, acknowledged up to %d", topic, p, best[p], n-1)
		}
	}
	t.Logf("checkpointed high watermarks (highest replica): %v", best)
}
