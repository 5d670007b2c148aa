package handlers

// OffsetDelete (key 47, KIP-496), v0 only.
//
// Deletes a group's committed offsets for some partitions. An active
// consumer group keeps the offsets of topics it subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC per partition); a non-empty group of another
// protocol type refuses with NON_EMPTY_GROUP.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/group"
)

func handleOffsetDelete(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if h.Groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	img := h.image()
	var tps []group.TopicPartition
	var outs []*kmsg.OffsetDeleteResponseTopicPartition
	resp.Topics = make([]kmsg.OffsetDeleteResponseTopic, len(req.Topics))
	for ti, rt := range req.Topics {
		ot := &resp.Topics[ti]
		*ot = kmsg.NewOffsetDeleteResponseTopic()
		ot.Topic = rt.Topic
		ot.Partitions = make([]kmsg.OffsetDeleteResponseTopicPartition, len(rt.Partitions))
		topic := img.Topic(rt.Topic)
		for pi, rp := range rt.Partitions {
			op := &ot.Partitions[pi]
			*op = kmsg.NewOffsetDeleteResponseTopicPartition()
			op.Partition = rp.Partition
			if topic == nil || rp.Partition < 0 || int(rp.Partition) >= len(topic.Partitions) {
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			tps = append(tps, group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
			outs = append(outs, op)
		}
	}
	errs, err := h.Groups.DeleteOffsets(ctx, req.Group, tps)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	for i, op := range outs {
		op.ErrorCode = errorCode(errs[i])
	}
	return resp
}
