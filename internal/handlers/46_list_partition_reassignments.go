package handlers

// ListPartitionReassignments (key 46, KIP-455).
//
// v0 is the only version (flexible). A null topic list lists every
// reassignment in progress; otherwise only the named partitions that are
// being reassigned appear (others, including unknown ones, are left out,
// as in Kafka).

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleListPartitionReassignments(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	var wanted map[string][]int32
	if req.Topics != nil {
		wanted = make(map[string][]int32, len(req.Topics))
		for _, rt := range req.Topics {
			wanted[rt.Topic] = append(wanted[rt.Topic], rt.Partitions...)
		}
	}
	for _, r := range h.image().Reassignments() {
		if wanted != nil && !slices.Contains(wanted[r.Topic], r.Partition) {
			continue
		}
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != r.Topic {
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = r.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rt := &resp.Topics[len(resp.Topics)-1]
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition = r.Partition
		rp.Replicas = slices.Clone(r.Replicas)
		rp.AddingReplicas = int32List(r.Adding)
		rp.RemovingReplicas = int32List(r.Removing)
		rt.Partitions = append(rt.Partitions, rp)
	}
	return resp
}

// int32List copies s, turning nil into an empty list (the protocol's arrays
// here are not nullable).
func int32List(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return slices.Clone(s)
}
