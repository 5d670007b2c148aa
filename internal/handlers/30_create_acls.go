package handlers

// CreateAcls (key 30, KIP-11; pattern types from v1, KIP-290).
//
// v2 is flexible. One result per creation, in order: INVALID_REQUEST for
// a binding Kafka refuses (unknown or filter-only types, PREFIXED with
// the wildcard name, a principal not User:<name>), POLICY_VIOLATION past
// authorizer.max.acls. Creating an existing binding succeeds. Valid
// bindings are stored together, forwarded to the controller like every
// metadata write. Needs ALTER on the cluster.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/auth"
)

func handleCreateACLs(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.CreateACLsRequest) *kmsg.CreateACLsResponse {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	acls := make([]auth.ACL, len(req.Creations))
	for i, c := range req.Creations {
		acls[i] = auth.ACL{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: c.ResourcePatternType,
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
		if req.Version == 0 {
			acls[i].PatternType = kmsg.ACLResourcePatternTypeLiteral
		}
	}
	maxACLs := 0
	if h.Config != nil {
		maxACLs = int(h.Config.Authorizer.MaxACLs)
	}
	for _, err := range h.Controller.CreateACLs(ctx, acls, maxACLs) {
		r := kmsg.NewCreateACLsResponseResult()
		r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Results = append(resp.Results, r)
	}
	return resp
}
