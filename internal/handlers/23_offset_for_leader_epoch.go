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
// UNDEFINED (-1, -1). Only the leader answers; a new leader's current
// epoch answers before it has a batch (see partition.EndOffsetForEpoch).
// Followers truncate by these answers (ReplicaID = their id, accepted only
// over the cluster port from that broker).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleOffsetForLeaderEpoch(h *Handlers, _ context.Context, rc *reqContext, req *kmsg.OffsetForLeaderEpochRequest) *kmsg.OffsetForLeaderEpochResponse {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	img := h.image()
	// A follower's request (v3+ replica id) must come from that broker.
	denied := req.Version >= 3 && req.ReplicaID >= 0 && rc.conn.PeerNode != req.ReplicaID
	for _, rt := range req.Topics {
		ot := kmsg.NewOffsetForLeaderEpochResponseTopic()
		ot.Topic = rt.Topic
		topic := img.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			op := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			op.Partition, op.LeaderEpoch, op.EndOffset = rp.Partition, -1, -1
			if denied {
				op.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
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
			op.LeaderEpoch, op.EndOffset = p.EndOffsetForEpoch(rp.LeaderEpoch)
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}
