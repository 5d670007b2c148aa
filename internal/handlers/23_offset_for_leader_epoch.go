package handlers

// OffsetForLeaderEpoch (key 23, KIP-101).
//
// v1 returns the leader epoch of the answer beside the end offset (KIP-279);
// v2 adds the current leader epoch for fencing (KIP-320) and throttle time;
// v3 the replica id (KIP-392; a follower's id or -1 for consumers); v4 is
// flexible.
//
// The answer for epoch E is the largest epoch <= E that this log knows with
// the offset where the next epoch starts, or the log end offset when E is
// the latest epoch. A consumer that read past that offset in E knows the
// records after it were truncated away. Epochs above the latest get
// UNDEFINED (-1, -1).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/partition"
)

func handleOffsetForLeaderEpoch(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.OffsetForLeaderEpochRequest) *kmsg.OffsetForLeaderEpochResponse {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	img := h.image()
	for _, rt := range req.Topics {
		ot := kmsg.NewOffsetForLeaderEpochResponseTopic()
		ot.Topic = rt.Topic
		topic := img.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			op := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			op.Partition, op.LeaderEpoch, op.EndOffset = rp.Partition, -1, -1
			if topic == nil || rp.Partition < 0 || int(rp.Partition) >= len(topic.Partitions) {
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			p, code := h.localLeader(topic.Name, rp.Partition)
			if code == 0 && req.Version >= 2 {
				code = checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch())
			}
			if code != 0 {
				op.ErrorCode = code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			op.LeaderEpoch, op.EndOffset = endOffsetForEpoch(p, rp.LeaderEpoch)
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

// endOffsetForEpoch answers one partition. The log's epoch cache learns an
// epoch from the first batch appended in it, while Kafka's leader records
// its epoch (starting at the log end) as soon as it takes over. Until this
// leader's current epoch has a batch, that entry is supplied here, so the
// current epoch answers with the log end offset instead of UNDEFINED.
func endOffsetForEpoch(p *partition.Partition, epoch int32) (int32, int64) {
	if epoch < 0 {
		return -1, -1
	}
	// The log end is read before the latest epoch: if a batch of the
	// current epoch lands in between, the log answers by itself below.
	leo := p.LogEndOffset()
	latest := p.Log().LatestEpoch()
	current := p.LeaderEpoch()
	if epoch <= latest || current <= latest {
		return p.Log().EndOffsetForEpoch(epoch)
	}
	switch {
	case epoch > current:
		return -1, -1
	case epoch == current:
		return current, leo
	case latest >= 0:
		// Between the last epoch with data and the current one: the
		// last epoch with data ends where the current one begins.
		return latest, leo
	default:
		// Below the only (current) epoch: Kafka answers with the
		// requested epoch and where the known one begins.
		return epoch, leo
	}
}
