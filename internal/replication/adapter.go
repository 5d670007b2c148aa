package replication

import (
	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/partition"
)

// metadata is the image's view of one partition as handed to
// ApplyMetadata.
type metadata = partition.Metadata

// metadataOf converts an image partition.
func metadataOf(p *controller.Partition) metadata {
	return metadata{
		Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
		Replicas: p.Replicas, ISR: p.ISR, Adding: p.AddingReplicas,
	}
}

// partitionsOf lists the replicas of a partition manager as locals.
func partitionsOf(m *partition.Manager) func() []local {
	return func() []local {
		if m == nil {
			return nil
		}
		all := m.All()
		out := make([]local, len(all))
		for i, p := range all {
			out[i] = partitionReplica{p}
		}
		return out
	}
}

// partitionReplica adapts *partition.Partition: it supplies
// TruncateFullyAndStartAt where the partition does not offer it.
type partitionReplica struct{ *partition.Partition }

// fullTruncater is implemented by partitions that can restart their log at
// an offset beyond its end.
type fullTruncater interface {
	TruncateFullyAndStartAt(offset int64) error
}

func (r partitionReplica) TruncateFullyAndStartAt(offset int64) error {
	if ft, ok := any(r.Partition).(fullTruncater); ok {
		return ft.TruncateFullyAndStartAt(offset)
	}
	return ErrCannotRestartLog
}
