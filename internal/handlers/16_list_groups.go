package handlers

// ListGroups (key 16).
//
// v1 added throttle time; v2 changed only throttling; v3 is flexible; v4
// filters by state and returns each group's state (KIP-518); v5 filters by
// type and returns it (KIP-848; every Spool group is "classic").
//
// A broker lists the groups it coordinates; admin clients ask every
// broker. While a partition of __consumer_offsets is still loading, the
// answer is partial and carries COORDINATOR_LOAD_IN_PROGRESS.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/group"
)

func handleListGroups(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if h.Groups == nil {
		// No coordinator, so no groups here.
		return resp
	}
	groups, err := h.Groups.ListGroups(req.StatesFilter, req.TypesFilter)
	resp.ErrorCode = errorCode(err)
	for _, g := range groups {
		og := kmsg.NewListGroupsResponseGroup()
		og.Group, og.ProtocolType, og.GroupState, og.GroupType = g.Group, g.ProtocolType, g.State, group.ClassicGroupType
		resp.Groups = append(resp.Groups, og)
	}
	return resp
}
