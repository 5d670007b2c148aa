package handlers

// LeaveGroup (key 13).
//
// v1 added throttle time; v2 changed only throttling; v3 removes a batch
// of members, each by member id and/or group.instance.id, with an error per
// member (KIP-345: an operator can remove static members); v4 is flexible;
// v5 adds a reason per member (KIP-800).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/group"
)

func handleLeaveGroup(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if h.Groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	var leaving []group.LeaveMember
	if req.Version < 3 {
		leaving = []group.LeaveMember{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			leaving = append(leaving, group.LeaveMember{MemberID: m.MemberID, InstanceID: deref(m.InstanceID), Reason: deref(m.Reason)})
		}
	}
	errs, err := h.Groups.Leave(req.Group, leaving)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	if req.Version < 3 {
		resp.ErrorCode = errorCode(errs[0])
		return resp
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, errorCode(errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return resp
}
