package handlers

// DeleteAcls (key 31, KIP-11; pattern types from v1, KIP-290).
//
// v2 is flexible. Each filter has the DescribeAcls semantics and its
// result lists the bindings it removed; an invalid filter gets
// INVALID_REQUEST and removes nothing. The valid filters are resolved
// against this broker's image and the matches removed in one metadata
// write. Needs ALTER on the cluster.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/auth"
)

func handleDeleteACLs(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.DeleteACLsRequest) *kmsg.DeleteACLsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	var filters []auth.ACLFilter
	var pos []int
	for i, rf := range req.Filters {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
		f := auth.ACLFilter{ResourceType: rf.ResourceType, ResourceName: rf.ResourceName, PatternType: rf.ResourcePatternType,
			Principal: rf.Principal, Host: rf.Host, Operation: rf.Operation, Permission: rf.PermissionType}
		if req.Version == 0 {
			f.PatternType = kmsg.ACLResourcePatternTypeLiteral
		}
		if err := f.Validate(); err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, errorMessage(err)
			continue
		}
		filters = append(filters, f)
		pos = append(pos, i)
	}
	if len(filters) == 0 {
		return resp
	}
	matched, err := h.Controller.DeleteACLs(ctx, filters)
	for j, i := range pos {
		r := &resp.Results[i]
		if err != nil {
			r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
			continue
		}
		for _, a := range matched[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = a.ResourceType, a.ResourceName, a.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
			r.MatchingACLs = append(r.MatchingACLs, m)
		}
	}
	return resp
}
