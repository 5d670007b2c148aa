package handlers

// OffsetCommit (key 8).
//
// v0 commits without a group generation (as an offsets-only group); v1
// added the generation and member id, and a per-partition timestamp that
// Spool ignores; v2-v4 carry a retention time for the commit (removed in
// v5, KIP-211: offsets then live as long as the group plus
// offsets.retention.minutes); v3 throttle time; v6 the leader epoch of the
// committed offset (KIP-320); v7 group.instance.id; v8 is flexible; v9
// only adds errors of the new consumer protocol (KIP-848), which Spool does
// not run.
//
// The answer comes once the commit is durable in __consumer_offsets.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/group"
)

func handleOffsetCommit(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	cr := group.CommitRequest{
		Group:      req.Group,
		Generation: req.Generation,
		MemberID:   req.MemberID,
		InstanceID: deref(req.InstanceID),
	}
	if req.Version == 0 {
		cr.Generation, cr.MemberID = -1, ""
	}
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis > 0 {
		cr.Retention = millis64(req.RetentionTimeMillis)
	}
	img := h.image()
	// outs[i] is the response partition of cr.Offsets[i].
	var outs []*kmsg.OffsetCommitResponseTopicPartition
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
	for ti, rt := range req.Topics {
		ot := &resp.Topics[ti]
		*ot = kmsg.NewOffsetCommitResponseTopic()
		ot.Topic = rt.Topic
		ot.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(rt.Partitions))
		topic := img.Topic(rt.Topic)
		for pi, rp := range rt.Partitions {
			op := &ot.Partitions[pi]
			*op = kmsg.NewOffsetCommitResponseTopicPartition()
			op.Partition = rp.Partition
			if topic == nil || rp.Partition < 0 || int(rp.Partition) >= len(topic.Partitions) {
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			epoch := rp.LeaderEpoch
			if req.Version < 6 {
				epoch = -1
			}
			cr.Offsets = append(cr.Offsets, group.OffsetCommit{
				TopicPartition: group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition},
				Offset:         rp.Offset,
				LeaderEpoch:    epoch,
				Metadata:       deref(rp.Metadata),
			})
			outs = append(outs, op)
		}
	}
	if len(cr.Offsets) == 0 {
		return resp
	}
	if h.Groups == nil {
		for _, op := range outs {
			op.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		return resp
	}
	errs, err := h.Groups.CommitOffsets(ctx, cr)
	for i, op := range outs {
		if err != nil {
			op.ErrorCode = errorCode(err)
		} else {
			op.ErrorCode = errorCode(errs[i])
		}
	}
	return resp
}

func millis64(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
