package handlers

// OffsetFetch (key 9).
//
// v1 reads offsets from __consumer_offsets (v0 meant ZooKeeper in Kafka;
// Spool answers both alike); v2 added a top-level error code and a null
// topic list meaning "every committed offset"; v3 throttle time; v5 the
// leader epoch of each offset; v6 is flexible; v7 require_stable
// (KIP-447: wait out pending transactional commits, of which Spool has
// none); v8 asks for several groups at once; v9 carries the member id and
// epoch of the new consumer protocol (KIP-848), unused by classic groups.
//
// A partition without a committed offset answers offset -1, no error.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/group"
)

func handleOffsetFetch(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var want []group.TopicPartition
			if rg.Topics != nil {
				want = []group.TopicPartition{}
				for _, rt := range rg.Topics {
					for _, p := range rt.Partitions {
						want = append(want, group.TopicPartition{Topic: rt.Topic, Partition: p})
					}
				}
			}
			og := kmsg.NewOffsetFetchResponseGroup()
			og.Group = rg.Group
			offsets, err := h.fetchOffsets(rg.Group, want)
			og.ErrorCode = errorCode(err)
			for _, t := range groupByTopic(offsets) {
				ot := kmsg.NewOffsetFetchResponseGroupTopic()
				ot.Topic = t[0].Topic
				for _, o := range t {
					op := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					op.Partition, op.Offset, op.LeaderEpoch, op.Metadata = o.Partition, o.Offset, o.LeaderEpoch, ptrTo(o.Metadata)
					op.ErrorCode = og.ErrorCode
					ot.Partitions = append(ot.Partitions, op)
				}
				og.Topics = append(og.Topics, ot)
			}
			resp.Groups = append(resp.Groups, og)
		}
		return resp
	}

	var want []group.TopicPartition
	if req.Topics != nil || req.Version < 2 {
		want = []group.TopicPartition{}
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				want = append(want, group.TopicPartition{Topic: rt.Topic, Partition: p})
			}
		}
	}
	offsets, err := h.fetchOffsets(req.Group, want)
	code := errorCode(err)
	if req.Version >= 2 {
		resp.ErrorCode = code
	}
	for _, t := range groupByTopic(offsets) {
		ot := kmsg.NewOffsetFetchResponseTopic()
		ot.Topic = t[0].Topic
		for _, o := range t {
			op := kmsg.NewOffsetFetchResponseTopicPartition()
			op.Partition, op.Offset, op.LeaderEpoch, op.Metadata = o.Partition, o.Offset, o.LeaderEpoch, ptrTo(o.Metadata)
			op.ErrorCode = code
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

// fetchOffsets reads a group's offsets. On error it still returns the
// requested partitions (offset -1), which is what v0/v1 clients, lacking a
// group-level error, need to see the error on.
func (h *Handlers) fetchOffsets(groupID string, want []group.TopicPartition) ([]group.CommittedOffset, error) {
	var err error = newRequestError(kerr.CoordinatorNotAvailable, "this broker runs no group coordinator")
	if h.Groups != nil {
		var offsets []group.CommittedOffset
		if offsets, err = h.Groups.FetchOffsets(groupID, want); err == nil {
			return offsets, nil
		}
	}
	out := make([]group.CommittedOffset, len(want))
	for i, tp := range want {
		out[i] = group.CommittedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1}
	}
	return out, err
}

// groupByTopic splits offsets into runs of the same topic, keeping the
// order of first appearance.
func groupByTopic(offsets []group.CommittedOffset) [][]group.CommittedOffset {
	var out [][]group.CommittedOffset
	index := make(map[string]int)
	for _, o := range offsets {
		i, ok := index[o.Topic]
		if !ok {
			i = len(out)
			index[o.Topic] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], o)
	}
	return out
}
