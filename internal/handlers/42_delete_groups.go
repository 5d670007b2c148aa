package handlers

// DeleteGroups (key 42).
//
// v1 changed only throttling; v2 is flexible. A group can be deleted only
// while it has no members (NON_EMPTY_GROUP otherwise); its committed
// offsets go with it.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDeleteGroups(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		og := kmsg.NewDeleteGroupsResponseGroup()
		og.Group = id
		if h.Groups == nil {
			og.ErrorCode = kerr.CoordinatorNotAvailable.Code
		} else {
			og.ErrorCode = errorCode(h.Groups.DeleteGroup(ctx, id))
		}
		resp.Groups = append(resp.Groups, og)
	}
	return resp
}
