package handlers

// JoinGroup (key 11).
//
// v1 added the rebalance timeout (v0 uses the session timeout for both);
// v2 throttle time; v3 no change; v4 makes a new member first receive its
// id with MEMBER_ID_REQUIRED and join again with it (KIP-394); v5 static
// membership through group.instance.id (KIP-345); v6 is flexible; v7
// returns the protocol type and makes the protocol name nullable; v8 adds
// a reason (KIP-800); v9 tells a static leader that rejoined without
// changes to skip the assignment (KIP-814).
//
// The request parks until the group's join phase ends; the server serves
// one request per connection at a time, and clients send JoinGroup on a
// connection of its own.

import (
	"context"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/group"
)

func handleJoinGroup(h *Handlers, ctx context.Context, rc *reqContext, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation, resp.MemberID = -1, req.MemberID
	if req.Version < 7 {
		resp.Protocol = new(string) // not nullable before v7
	}
	if h.Groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	jr := group.JoinRequest{
		Group:                req.Group,
		MemberID:             req.MemberID,
		InstanceID:           deref(req.InstanceID),
		ClientID:             clientID(rc),
		ClientHost:           clientHost(rc),
		ProtocolType:         req.ProtocolType,
		SessionTimeout:       millis(req.SessionTimeoutMillis),
		RebalanceTimeout:     millis(req.RebalanceTimeoutMillis),
		RequireKnownMemberID: req.Version >= 4,
		Reason:               deref(req.Reason),
	}
	if req.Version == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	jr.Protocols = make([]group.Protocol, len(req.Protocols))
	for i, p := range req.Protocols {
		jr.Protocols[i] = group.Protocol{Name: p.Name, Metadata: p.Metadata}
	}
	res, err := h.Groups.Join(ctx, jr)
	resp.MemberID = res.MemberID
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	resp.Generation, resp.LeaderID = res.Generation, res.Leader
	protocol := res.Protocol
	resp.Protocol = &protocol
	if req.Version >= 7 {
		pt := res.ProtocolType
		resp.ProtocolType = &pt
	}
	members := res.Members
	if res.SkipAssignment {
		if req.Version >= 9 {
			resp.SkipAssignment = true
		} else {
			// An older leader cannot be told to skip; without members
			// it assigns nothing, and its SyncGroup in the stable group
			// returns the current assignment.
			members = nil
		}
	}
	for _, m := range members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.ProtocolMetadata = m.MemberID, m.Metadata
		if m.InstanceID != "" {
			rm.InstanceID = ptrTo(m.InstanceID)
		}
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

// millis converts a protocol millisecond count.
func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ptrTo(s string) *string { return &s }

// clientID is the client.id of the request's header.
func clientID(rc *reqContext) string {
	if rc == nil || rc.hdr == nil {
		return ""
	}
	return rc.hdr.ClientID
}

// clientHost is the client's address as Kafka shows it in group
// descriptions: "/" and the IP.
func clientHost(rc *reqContext) string {
	if rc == nil || rc.conn == nil || rc.conn.Remote == nil {
		return ""
	}
	addr := rc.conn.Remote.String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return "/" + addr
}
