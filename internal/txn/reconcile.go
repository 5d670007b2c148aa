package txn

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/partition"
)

// Reconcile makes the coordinator serve exactly the partitions of
// __transaction_state that img says this broker leads and parts hosts.
// The broker calls it after every change to its replicas.
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

// TopicSpec is how __transaction_state is created: compacted, with
// min(ReplicationFactor, cluster size) replicas.
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
			"segment.bytes":    strconv.Itoa(100 << 20),
			"compression.type": "producer",
		},
	}
}

// partitionLog adapts a local replica to Log.
type partitionLog struct{ p *partition.Partition }

// writeTimeout bounds how long a state write waits for the ISR.
const writeTimeout = 5 * time.Second

// Append writes with acks=all, so the state survives a failover.
func (l partitionLog) Append(batch []byte) error {
	_, err := l.p.Produce(batch, -1, writeTimeout)
	if errors.Is(err, partition.ErrNotLeader) {
		return fmt.Errorf("%w: %w", ErrNotCoordinator, err)
	}
	return err
}

// Read covers the whole local log (see group's partitionLog: a new
// leader's log is authoritative, its high watermark may lag).
func (l partitionLog) Read(offset int64, maxBytes int) ([]byte, error) {
	return l.p.ReadLocal(offset, maxBytes)
}

func (l partitionLog) StartOffset() int64 { return l.p.LogStartOffset() }
func (l partitionLog) EndOffset() int64   { return l.p.LogEndOffset() }

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
