package handlers

// SyncGroup (key 14).
//
// v1 added throttle time; v2 changed only throttling; v3 static membership
// (group.instance.id); v4 is flexible; v5 carries the protocol type and
// name both ways, so a member can check it got what it expects.
//
// Only the leader sends assignments. Every member parks until the
// leader's assignment is stored in __consumer_offsets.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/group"
)

func handleSyncGroup(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.MemberAssignment = []byte{}
	if h.Groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	sr := group.SyncRequest{
		Group:        req.Group,
		MemberID:     req.MemberID,
		InstanceID:   deref(req.InstanceID),
		Generation:   req.Generation,
		ProtocolType: req.ProtocolType,
		Protocol:     req.Protocol,
	}
	if len(req.GroupAssignment) > 0 {
		sr.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			sr.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	res, err := h.Groups.Sync(ctx, sr)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	if res.Assignment != nil {
		resp.MemberAssignment = res.Assignment
	}
	if req.Version >= 5 {
		resp.ProtocolType, resp.Protocol = ptrTo(res.ProtocolType), ptrTo(res.Protocol)
	}
	return resp
}
