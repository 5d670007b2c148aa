package handlers

// AlterConfigs (key 33).
//
// v1 only moved throttling after the response; v2 is flexible.
//
// This is the legacy form that IncrementalAlterConfigs (key 44) replaced:
// the configs given become the topic's complete set of overrides, and every
// override not given reverts to its default. Only TOPIC resources can be
// altered; Spool has no dynamic broker configs.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleAlterConfigs(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	dups := make(map[configResourceKey]int)
	for _, rr := range req.Resources {
		dups[configResourceKey{rr.ResourceType, rr.ResourceName}]++
	}
	changed := false
	for _, rr := range req.Resources {
		out := kmsg.NewAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = rr.ResourceType, rr.ResourceName
		err := h.replaceTopicConfigs(ctx, &rr, dups, req.ValidateOnly)
		if err != nil {
			out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		} else {
			changed = changed || !req.ValidateOnly
		}
		resp.Resources = append(resp.Resources, out)
	}
	if changed && h.SyncReplicas != nil {
		// Running replicas pick up the new configs now rather than at
		// the reconciler's next wake-up.
		h.SyncReplicas()
	}
	return resp
}

func (h *Handlers) replaceTopicConfigs(ctx context.Context, rr *kmsg.AlterConfigsRequestResource, dups map[configResourceKey]int, validateOnly bool) error {
	if err := h.checkAlterResource(rr.ResourceType, rr.ResourceName, dups); err != nil {
		return err
	}
	if _, err := lookupTopic(h.image(), rr.ResourceName); err != nil {
		return err
	}
	overrides := make(map[string]string, len(rr.Configs))
	for _, c := range rr.Configs {
		if c.Value == nil {
			return newRequestError(kerr.InvalidRequest, "config %s has a null value", c.Name)
		}
		if _, dup := overrides[c.Name]; dup {
			return newRequestError(kerr.InvalidRequest, "config %s is given twice", c.Name)
		}
		overrides[c.Name] = *c.Value
	}
	if err := h.validateTopicOverrides(overrides); err != nil {
		return err
	}
	return h.Controller.ReplaceTopicConfigs(ctx, rr.ResourceName, overrides, validateOnly)
}
