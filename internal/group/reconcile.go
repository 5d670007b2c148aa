package group

import (
	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/coordlog"
	"github.com/spool-mq/spool/internal/partition"
)

// Reconcile makes the coordinator serve exactly the partitions of
// __consumer_offsets that img says this broker leads and that parts hosts.
// The broker calls it after every change to its replicas; it returns at
// once (newly owned partitions load in the background).
func (c *Coordinator) Reconcile(img *controller.Image, parts *partition.Manager) {
	c.SetPartitions(coordlog.Owned(img, TopicName, c.cfg.NodeID, parts, func(p *partition.Partition) coordlog.Log {
		return coordlog.PartitionLog{P: p, NotCoordinator: ErrNotCoordinator, TooLarge: ErrRecordTooLarge}
	}))
}

// TopicSpec is how __consumer_offsets is created (see coordlog.TopicSpec).
func (c *Coordinator) TopicSpec(img *controller.Image) controller.TopicSpec {
	return coordlog.TopicSpec(img, TopicName, c.cfg.NumPartitions, c.cfg.ReplicationFactor, c.cfg.ClusterSize, c.cfg.SegmentBytes)
}
