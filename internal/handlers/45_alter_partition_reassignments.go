package handlers

// AlterPartitionReassignments (key 45, KIP-455).
//
// v0 is the only version Spool accepts (it is flexible already); v1 added
// allow_replication_factor_change (KIP-860), which Spool would always
// allow.
//
// A partition's replicas list starts or replaces its reassignment; a null
// list cancels it. All partitions of a request are committed as one
// metadata log entry, each accepted or rejected on its own. The response
// is sent once the reassignments have started; they complete in the
// background as the new replicas catch up (ListPartitionReassignments
// shows the progress).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
)

func handleAlterPartitionReassignments(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	var rs []controller.Reassignment
	type slot struct{ topic, partition int }
	var slots []slot
	seen := make(map[controller.PartitionRef]bool)
	dup := make(map[controller.PartitionRef]bool)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			ref := controller.PartitionRef{Topic: rt.Topic, Partition: rp.Partition}
			dup[ref] = seen[ref]
			seen[ref] = true
		}
	}
	for i, rt := range req.Topics {
		out := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		out.Topic = rt.Topic
		for j, rp := range rt.Partitions {
			op := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			op.Partition = rp.Partition
			if dup[controller.PartitionRef{Topic: rt.Topic, Partition: rp.Partition}] {
				err := newRequestError(kerr.InvalidRequest, "partition %s-%d appears more than once in the request", rt.Topic, rp.Partition)
				op.ErrorCode, op.ErrorMessage = errorCode(err), errorMessage(err)
			} else if rp.Replicas != nil && len(rp.Replicas) == 0 {
				err := newRequestError(kerr.InvalidReplicaAssignment, "partition %s-%d: the replica list is empty (null cancels a reassignment)", rt.Topic, rp.Partition)
				op.ErrorCode, op.ErrorMessage = errorCode(err), errorMessage(err)
			} else {
				rs = append(rs, controller.Reassignment{Topic: rt.Topic, Partition: rp.Partition, Replicas: rp.Replicas})
				slots = append(slots, slot{i, j})
			}
			out.Partitions = append(out.Partitions, op)
		}
		resp.Topics = append(resp.Topics, out)
	}
	if len(rs) == 0 {
		return resp
	}
	errs := h.Controller.AlterReassignments(ctx, rs)
	for k, s := range slots {
		op := &resp.Topics[s.topic].Partitions[s.partition]
		op.ErrorCode, op.ErrorMessage = errorCode(errs[k]), errorMessage(errs[k])
	}
	if h.SyncReplicas != nil {
		h.SyncReplicas()
	}
	return resp
}
