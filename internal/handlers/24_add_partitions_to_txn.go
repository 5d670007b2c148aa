package handlers

// AddPartitionsToTxn (key 24).
//
// v1 is v0 with throttling after the response; v2 allows PRODUCER_FENCED;
// v3 is flexible; v4 batches transactions for brokers verifying produces
// (KIP-890), which Spool does not advertise yet. The partitions are added
// all or nothing: if any is unknown, it gets UNKNOWN_TOPIC_OR_PARTITION
// and the rest OPERATION_NOT_ATTEMPTED, as in Kafka; otherwise every
// partition gets the coordinator's answer.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/txn"
)

func handleAddPartitionsToTxn(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	img := h.image()
	var tps []txn.TopicPartition
	unknown := false
	for _, rt := range req.Topics {
		t := img.Topic(rt.Topic)
		for _, p := range rt.Partitions {
			if t == nil || p < 0 || int(p) >= len(t.Partitions) || t.Internal {
				unknown = true
			}
			tps = append(tps, txn.TopicPartition{Topic: rt.Topic, Partition: p})
		}
	}
	var code int16
	switch {
	case unknown:
	case h.Txn == nil:
		code = kerr.CoordinatorNotAvailable.Code
	default:
		code = fencedCode(errorCode(h.Txn.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, tps)), req.Version >= 2)
	}
	for _, rt := range req.Topics {
		t := img.Topic(rt.Topic)
		out := kmsg.NewAddPartitionsToTxnResponseTopic()
		out.Topic = rt.Topic
		for _, p := range rt.Partitions {
			op := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			op.Partition, op.ErrorCode = p, code
			if unknown {
				op.ErrorCode = kerr.OperationNotAttempted.Code
				if t == nil || p < 0 || int(p) >= len(t.Partitions) || t.Internal {
					op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
			}
			out.Partitions = append(out.Partitions, op)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}
