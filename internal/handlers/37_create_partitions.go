package handlers

// CreatePartitions (key 37, KIP-195).
//
// v1 only moved throttling after the response; v2 is flexible; v3 only
// added quota errors (KIP-599).
//
// Partitions can only be added: count is the topic's new total, and a count
// at or below the current one is INVALID_PARTITIONS. New partitions are
// placed automatically with the topic's replication factor, or manually
// with one replica list per new partition. As with CreateTopics, the change
// is committed and local replicas opened before the response; the timeout
// is not used.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleCreatePartitions(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	created := false
	for _, rt := range req.Topics {
		out := kmsg.NewCreatePartitionsResponseTopic()
		out.Topic = rt.Topic
		var err error
		if seen[rt.Topic] > 1 {
			err = newRequestError(kerr.InvalidRequest, "topic %q appears more than once in the request", rt.Topic)
		} else {
			err = h.createPartitions(ctx, &rt, req.ValidateOnly)
		}
		if err != nil {
			out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		} else {
			created = created || !req.ValidateOnly
		}
		resp.Topics = append(resp.Topics, out)
	}
	if created && h.SyncReplicas != nil {
		h.SyncReplicas()
	}
	return resp
}

func (h *Handlers) createPartitions(ctx context.Context, rt *kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	if _, err := lookupTopic(h.image(), rt.Topic); err != nil {
		return err
	}
	var assignments [][]int32
	if rt.Assignment != nil {
		assignments = make([][]int32, len(rt.Assignment))
		for i, a := range rt.Assignment {
			assignments[i] = a.Replicas
		}
	}
	return h.Controller.CreatePartitionsWithAssignments(ctx, rt.Topic, rt.Count, assignments, validateOnly)
}
