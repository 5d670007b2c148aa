package replication

import (
	"context"

	"github.com/spool-mq/spool/internal/storage"
)

// replica is what a fetcher needs from a local follower replica. It is
// the follower half of *partition.Partition; tests use fakes.
type replica interface {
	TopicPartition() storage.TopicPartition
	LogStartOffset() int64
	LogEndOffset() int64
	HighWatermark() int64
	// LatestEpoch is the newest leader epoch in the local log, -1 if none.
	LatestEpoch() int32
	// EndOffsetForEpoch is the local answer to OffsetForLeaderEpoch: the
	// largest known epoch <= epoch and where it ends; (-1, -1) if none.
	EndOffsetForEpoch(epoch int32) (int32, int64)
	// AppendAsFollower appends the leader's batches keeping their offsets
	// and epochs.
	AppendAsFollower(data []byte) (lastOffset int64, err error)
	UpdateFollowerHighWatermark(leaderHWM int64)
	// TruncateTo removes every batch holding an offset >= offset.
	TruncateTo(offset int64) error
	// TruncateFullyAndStartAt empties the log and restarts it at offset,
	// which may be beyond the current log end (the leader deleted what
	// this replica would need next).
	TruncateFullyAndStartAt(offset int64) error
	// FlushLocal makes everything appended durable; the next fetch's
	// offset tells the leader it is.
	FlushLocal() error
}

// local is what the Manager needs from every replica hosted here.
type local interface {
	replica
	TopicID() [16]byte
	ApplyMetadata(m metadata)
	MaybeShrinkISR(ctx context.Context)
}
