package handlers

// DescribeGroups (key 15).
//
// v1 added throttle time; v2 changed only throttling; v3 can return the
// operations the client may perform on each group (KIP-430); v4 the
// members' group.instance.id; v5 is flexible. (v6 answers unknown groups
// with GROUP_ID_NOT_FOUND; up to v5 they are described as Dead, which is
// what Spool does.)

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOperations is the KIP-430 bit set of what may be done to a group:
// READ (3), DELETE (6) and DESCRIBE (8). Without ACLs everything is
// allowed.
const groupOperations = 1<<3 | 1<<6 | 1<<8

func handleDescribeGroups(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		og := kmsg.NewDescribeGroupsResponseGroup()
		og.Group = id
		if h.Groups == nil {
			og.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Groups = append(resp.Groups, og)
			continue
		}
		d, err := h.Groups.DescribeGroup(id)
		if err != nil {
			og.ErrorCode = errorCode(err)
			resp.Groups = append(resp.Groups, og)
			continue
		}
		og.State, og.ProtocolType, og.Protocol = d.State, d.ProtocolType, d.Protocol
		if req.IncludeAuthorizedOperations {
			og.AuthorizedOperations = groupOperations
		}
		for _, m := range d.Members {
			om := kmsg.NewDescribeGroupsResponseGroupMember()
			om.MemberID, om.ClientID, om.ClientHost = m.MemberID, m.ClientID, m.ClientHost
			om.ProtocolMetadata, om.MemberAssignment = nonNil(m.Metadata), nonNil(m.Assignment)
			if m.InstanceID != "" {
				om.InstanceID = ptrTo(m.InstanceID)
			}
			og.Members = append(og.Members, om)
		}
		resp.Groups = append(resp.Groups, og)
	}
	return resp
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
