package group

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/partition"
)

// Reconcile makes the coordinator serve exactly the partitions of
// __consumer_offsets that img says this broker leads and that parts hosts.
// The broker calls it after every change to its replicas; it returns at
// once (newly owned partitions load in the background).
func (c *Coordinator) Reconcile(img *controller.Image, parts *partition.Manager) {
	t := img.Topic(TopicName)
	if t == nil {
		c.SetPartitions(0, nil)
		return
	}
	var owned []OwnedPartition
	for _, p := range t.Partitions {
		if p.Leader != c.cfg.NodeID {
			continue
		}
		if r := parts.Get(TopicName, p.Index); r != nil {
			owned = append(owned, OwnedPartition{Index: p.Index, Log: partitionLog{r}, LeaderEpoch: p.LeaderEpoch})
		}
	}
	c.SetPartitions(int32(len(t.Partitions)), owned)
}

// TopicSpec is how __consumer_offsets is created: NumPartitions
// partitions, min(ReplicationFactor, cluster size) replicas (creation
// fails, retriably, until that many brokers are alive), compacted
// (only the latest record per key matters) with small segments so that
// compaction can keep it small.
func (c *Coordinator) TopicSpec(img *controller.Image) controller.TopicSpec {
	live := 0
	for _, b := range img.Brokers {
		if !b.Fenced {
			live++
		}
	}
	size := c.cfg.ClusterSize
	if size <= 0 {
		size = live
	}
	rf := max(min(int(c.cfg.ReplicationFactor), size), 1)
	return controller.TopicSpec{
		Name:              TopicName,
		NumPartitions:     c.cfg.NumPartitions,
		ReplicationFactor: int16(rf),
		Configs: map[string]string{
			"cleanup.policy":   "compact",
			"segment.bytes":    strconv.FormatInt(c.cfg.SegmentBytes, 10),
			"compression.type": "producer",
		},
	}
}

// partitionLog adapts a local partition replica to Log.
type partitionLog struct{ p *partition.Partition }

// commitTimeout bounds how long a coordinator write waits for the ISR
// (Kafka's offsets.commit.timeout.ms default).
const commitTimeout = 5 * time.Second

// Append writes with acks=all: a commit is acknowledged only once every
// in-sync replica has it, so it survives the coordinator's failover.
func (l partitionLog) Append(batch []byte) error {
	_, err := l.p.Produce(batch, -1, commitTimeout)
	if errors.Is(err, partition.ErrNotLeader) {
		// Leadership moved mid-write: the client must find the new
		// coordinator.
		return fmt.Errorf("%w: %w", ErrNotCoordinator, err)
	}
	if errors.Is(err, partition.ErrMessageTooLarge) {
		return fmt.Errorf("%w: %w", ErrRecordTooLarge, err)
	}
	return err
}

// Read and EndOffset cover the whole local log, not just up to the high
// watermark: a new leader's log is authoritative (everything in it will be
// committed), while its high watermark may still lag until followers
// fetch, so loading only to the watermark could miss recent commits.
func (l partitionLog) Read(offset int64, maxBytes int) ([]byte, error) {
	return l.p.ReadLocal(offset, maxBytes)
}

func (l partitionLog) StartOffset() int64 { return l.p.LogStartOffset() }
func (l partitionLog) EndOffset() int64   { return l.p.LogEndOffset() }
