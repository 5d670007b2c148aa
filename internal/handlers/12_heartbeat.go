package handlers

// Heartbeat (key 12).
//
// v1 added throttle time; v2 changed only throttling; v3 static membership
// (group.instance.id); v4 is flexible.
//
// A heartbeat keeps the member's session alive; REBALANCE_IN_PROGRESS in
// the answer is how a member learns it must rejoin.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleHeartbeat(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if h.Groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	resp.ErrorCode = errorCode(h.Groups.Heartbeat(req.Group, req.MemberID, deref(req.InstanceID), req.Generation))
	return resp
}
