// Package coordlog is what the coordinators that keep their state on an
// internal compacted topic share: the consumer group coordinator on
// __consumer_offsets and the transaction coordinator on
// __transaction_state. A coordinator serves the keys that hash onto the
// partitions its broker leads; this package says which those are, how the
// topic is created, and adapts a local replica to the log the coordinator
// writes and replays.
package coordlog

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/partition"
)

// Log is one partition of a coordinator's topic.
type Log interface {
	// Append writes one record batch and returns once it is durable. A
	// batch over the log's size limit fails with an error wrapping the
	// coordinator's too-large error (see PartitionLog).
	Append(batch []byte) error
	// Read returns whole batches starting with the one that contains
	// offset, up to EndOffset, about maxBytes but at least one batch.
	Read(offset int64, maxBytes int) ([]byte, error)
	// StartOffset is the first offset in the log.
	StartOffset() int64
	// EndOffset is the end of the durable data.
	EndOffset() int64
}

// Partition is a partition of the coordinator's topic this broker leads.
type Partition struct {
	Index int32
	// Log is the partition. Log values are compared with ==, so the
	// dynamic type must be comparable; a different value for the same
	// index (the replica was recreated) makes the coordinator reload it.
	Log Log
	// LeaderEpoch changes when leadership moved away and back; the
	// partition is then reloaded, since other coordinators may have
	// written to it meanwhile. The transaction coordinator also writes it
	// into markers as the coordinator epoch.
	LeaderEpoch int32
}

// Owned returns the partition count of topic in img (0 if it does not
// exist) and the partitions of it that img says node leads and parts hosts,
// each adapted with adapt.
func Owned(img *controller.Image, topic string, node int32, parts *partition.Manager, adapt func(*partition.Partition) Log) (int32, []Partition) {
	t := img.Topic(topic)
	if t == nil {
		return 0, nil
	}
	var owned []Partition
	for _, p := range t.Partitions {
		if p.Leader != node {
			continue
		}
		if r := parts.Get(topic, p.Index); r != nil {
			owned = append(owned, Partition{Index: p.Index, Log: adapt(r), LeaderEpoch: p.LeaderEpoch})
		}
	}
	return int32(len(t.Partitions)), owned
}

// TopicSpec is how a coordinator's topic is created: partitions
// partitions, min(replicationFactor, cluster size) replicas (clusterSize,
// or the live brokers when it is 0; creation fails, retriably, until that
// many brokers are alive), compacted (only the latest record per key
// matters) with segments of segmentBytes so that compaction can keep it
// small.
func TopicSpec(img *controller.Image, name string, partitions int32, replicationFactor int16, clusterSize int, segmentBytes int64) controller.TopicSpec {
	size := clusterSize
	if size <= 0 {
		for _, b := range img.Brokers {
			if !b.Fenced {
				size++
			}
		}
	}
	rf := max(min(int(replicationFactor), size), 1)
	return controller.TopicSpec{
		Name:              name,
		NumPartitions:     partitions,
		ReplicationFactor: int16(rf),
		Configs: map[string]string{
			"cleanup.policy":   "compact",
			"segment.bytes":    strconv.FormatInt(segmentBytes, 10),
			"compression.type": "producer",
		},
	}
}

// WriteTimeout bounds how long a coordinator write waits for the ISR
// (Kafka's offsets.commit.timeout.ms default).
const WriteTimeout = 5 * time.Second

// PartitionLog adapts a local replica to Log. It is comparable (see
// Partition.Log).
type PartitionLog struct {
	P *partition.Partition
	// NotCoordinator wraps a write refused because leadership moved
	// mid-write: the client must find the new coordinator.
	NotCoordinator error
	// TooLarge, if set, wraps a batch over the topic's max.message.bytes.
	TooLarge error
}

// Append writes with acks=all: a write is acknowledged only once every
// in-sync replica has it, so it survives the coordinator's failover.
func (l PartitionLog) Append(batch []byte) error {
	_, err := l.P.Produce(batch, -1, WriteTimeout)
	switch {
	case errors.Is(err, partition.ErrNotLeader):
		return fmt.Errorf("%w: %w", l.NotCoordinator, err)
	case l.TooLarge != nil && errors.Is(err, partition.ErrMessageTooLarge):
		return fmt.Errorf("%w: %w", l.TooLarge, err)
	}
	return err
}

// Read and EndOffset cover the whole local log, not just up to the high
// watermark: a new leader's log is authoritative (everything in it will be
// committed), while its high watermark may still lag until followers
// fetch, so loading only to the watermark could miss recent writes.
func (l PartitionLog) Read(offset int64, maxBytes int) ([]byte, error) {
	return l.P.ReadLocal(offset, maxBytes)
}

// StartOffset is the replica's log start.
func (l PartitionLog) StartOffset() int64 { return l.P.LogStartOffset() }

// EndOffset is the replica's log end.
func (l PartitionLog) EndOffset() int64 { return l.P.LogEndOffset() }
