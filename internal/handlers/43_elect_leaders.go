package handlers

// ElectLeaders (key 43, KIP-183; election types KIP-460).
//
// v1 added the election type (0 preferred, 1 unclean) and a top-level
// error code; v2 is flexible. v0 always runs a preferred election.
//
// All requested partitions are elected in one metadata log entry. A null
// topic list means every partition, and then, as in Kafka, only the
// partitions that got a new leader are listed.

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
)

func handleElectLeaders(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	typ := controller.ElectPreferred
	if req.Version >= 1 {
		typ = controller.ElectionType(req.ElectionType)
	}
	if typ != controller.ElectPreferred && typ != controller.ElectUnclean {
		// Kafka answers an unknown election type per partition, since v0
		// clients have no top-level error code.
		err := newRequestError(kerr.InvalidRequest, "unknown election type %d", req.ElectionType)
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				addElectResult(resp, rt.Topic, p, err)
			}
		}
		return resp
	}

	var parts []controller.PartitionRef
	if req.Topics != nil {
		parts = []controller.PartitionRef{} // empty, not nil: "all" is only a null list
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				parts = append(parts, controller.PartitionRef{Topic: rt.Topic, Partition: p})
			}
		}
	}
	var results map[controller.PartitionRef]error
	if parts == nil || len(parts) > 0 {
		results = h.Controller.ElectLeaders(ctx, typ, parts)
	}
	refs := make([]controller.PartitionRef, 0, len(results))
	for ref := range results {
		refs = append(refs, ref)
	}
	slices.SortFunc(refs, func(a, b controller.PartitionRef) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	for _, ref := range refs {
		addElectResult(resp, ref.Topic, ref.Partition, results[ref])
	}
	if h.SyncReplicas != nil && len(refs) > 0 {
		h.SyncReplicas()
	}
	return resp
}

// addElectResult records one partition's outcome, grouping by topic (the
// last topic entry is reused when it has the same name).
func addElectResult(resp *kmsg.ElectLeadersResponse, topic string, partition int32, err error) {
	if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != topic {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = topic
		resp.Topics = append(resp.Topics, rt)
	}
	rt := &resp.Topics[len(resp.Topics)-1]
	rp := kmsg.NewElectLeadersResponseTopicPartition()
	rp.Partition = partition
	rp.ErrorCode, rp.ErrorMessage = errorCode(err), errorMessage(err)
	rt.Partitions = append(rt.Partitions, rp)
}
