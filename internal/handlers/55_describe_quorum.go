package handlers

// DescribeQuorum (key 55, KIP-595/KIP-836).
//
// v1 added each replica's last fetch and last caught-up timestamps; v2
// (not accepted) added directory ids and the nodes' listeners.
//
// Spool's metadata quorum is a Raft group over every broker; it is
// described as Kafka's: topic "__cluster_metadata", partition 0, the Raft
// term as leader epoch, the commit index as high watermark and each
// voter's applied index as its log end offset. Voter progress comes from
// broker heartbeats to the Raft leader (this request is forwarded there),
// so the timestamps are those of the last heartbeat, -1 if none was seen.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
)

// metadataTopicName is the name Kafka gives the metadata log.
const metadataTopicName = "__cluster_metadata"

func handleDescribeQuorum(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	var info *controller.QuorumInfo // fetched once, on the first valid partition
	var infoErr error
	for _, rt := range req.Topics {
		ot := kmsg.NewDescribeQuorumResponseTopic()
		ot.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewDescribeQuorumResponseTopicPartition()
			op.Partition = rp.Partition
			if rt.Topic != metadataTopicName || rp.Partition != 0 {
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			if info == nil && infoErr == nil {
				qi, err := h.Controller.QuorumInfo(ctx)
				info, infoErr = &qi, err
			}
			if infoErr != nil {
				resp.ErrorCode = errorCode(infoErr)
				op.ErrorCode = errorCode(infoErr)
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			describeQuorumPartition(info, &op)
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

func describeQuorumPartition(info *controller.QuorumInfo, op *kmsg.DescribeQuorumResponseTopicPartition) {
	op.LeaderID = info.LeaderID
	op.LeaderEpoch = int32(info.Term)
	op.HighWatermark = int64(info.CommitIndex)
	op.CurrentVoters = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{}
	op.Observers = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{}
	for _, v := range info.Voters {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID = v.ID
		rs.LogEndOffset = int64(v.AppliedIndex)
		rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = unixMillisOrUnknown(v.LastContact), unixMillisOrUnknown(v.LastContact)
		if v.LastContact.IsZero() {
			rs.LogEndOffset = -1
		}
		op.CurrentVoters = append(op.CurrentVoters, rs)
	}
}

// unixMillisOrUnknown is t in Unix milliseconds, or -1 for the zero time.
func unixMillisOrUnknown(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}
