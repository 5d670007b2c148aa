package txn

import (
	"fmt"

	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/coordlog"
	"github.com/spool-mq/spool/internal/partition"
)

// Reconcile makes the coordinator serve exactly the partitions of
// __transaction_state that img says this broker leads and parts hosts.
// The broker calls it after every change to its replicas.
func (c *Coordinator) Reconcile(img *controller.Image, parts *partition.Manager) {
	c.SetPartitions(coordlog.Owned(img, TopicName, c.cfg.NodeID, parts, func(p *partition.Partition) coordlog.Log {
		return coordlog.PartitionLog{P: p, NotCoordinator: ErrNotCoordinator}
	}))
}

// TopicSpec is how __transaction_state is created (see coordlog.TopicSpec).
func (c *Coordinator) TopicSpec(img *controller.Image) controller.TopicSpec {
	return coordlog.TopicSpec(img, TopicName, c.cfg.NumPartitions, c.cfg.ReplicationFactor, c.cfg.ClusterSize, stateSegmentBytes)
}

// stateSegmentBytes is the segment size of __transaction_state.
const stateSegmentBytes = 100 << 20

// LocalMarkers writes markers to the local leader of each partition:
// the single-node path. A partition this broker does not lead fails with
// partition.ErrNotLeader, leaving the transaction in its Prepare state
// (sending WriteTxnMarkers to the leader is the cluster step still to do).
type LocalMarkers struct {
	Parts *partition.Manager
	// Image is the current metadata: a partition it no longer has (the
	// topic was deleted) has no transaction left to end, and counts as
	// written, so its transaction can complete.
	Image func() *controller.Image
}

// WriteMarker implements Markers.
func (m LocalMarkers) WriteMarker(tp TopicPartition, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	if m.Image != nil {
		if t := m.Image().Topic(tp.Topic); t == nil || int(tp.Partition) >= len(t.Partitions) {
			return nil
		}
	}
	p := m.Parts.Get(tp.Topic, tp.Partition)
	if p == nil {
		return fmt.Errorf("%w: no local replica of %s/%d", partition.ErrNotLeader, tp.Topic, tp.Partition)
	}
	_, err := p.WriteTxnMarker(producerID, epoch, commit, coordinatorEpoch)
	return err
}
