package handlers

// DeleteRecords (key 21, KIP-107).
//
// v1 only moved throttling after the response; v2 is flexible.
//
// Deleting records moves a partition's log start offset; whole segments
// below it are removed, records before it in the first remaining segment
// stay on disk but are never served again. Offset -1 means the high
// watermark, i.e. everything consumers can currently see. The new log start
// offsets are checkpointed before the response, so a restart does not bring
// the records back.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDeleteRecords(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.DeleteRecordsRequest) *kmsg.DeleteRecordsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	img := h.image()
	deleted := false
	for _, rt := range req.Topics {
		ot := kmsg.NewDeleteRecordsResponseTopic()
		ot.Topic = rt.Topic
		topic := img.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			op := kmsg.NewDeleteRecordsResponseTopicPartition()
			op.Partition, op.LowWatermark = rp.Partition, -1
			if topic == nil || rp.Partition < 0 || int(rp.Partition) >= len(topic.Partitions) {
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			p, code := h.localLeader(topic.Name, rp.Partition)
			if code != 0 {
				op.ErrorCode = code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			low, err := p.DeleteRecordsBefore(rp.Offset)
			if err != nil {
				op.ErrorCode = errorCode(err)
			} else {
				op.LowWatermark = low
				deleted = true
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	if deleted && h.Storage != nil {
		// The deletion already holds in memory; a failed checkpoint only
		// widens the window in which a crash could resurrect records
		// (the periodic checkpoint retries), so it is logged, not
		// reported as a partition error.
		if err := h.Storage.Checkpoint(); err != nil {
			h.Logger.Warn("checkpointing log start offsets after DeleteRecords failed", "err", err)
		}
	}
	return resp
}
