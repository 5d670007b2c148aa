package handlers

// IncrementalAlterConfigs (key 44, KIP-339).
//
// v1 is flexible.
//
// Each config is changed by an operation: SET a value, DELETE the override
// (reverting to the broker's or Kafka's default), or for list configs such
// as cleanup.policy APPEND or SUBTRACT elements. All operations on one
// resource apply together or not at all, and the resulting overrides are
// validated as a whole before anything is committed. Only TOPIC resources
// can be altered; Spool has no dynamic broker configs.
//
// APPEND and SUBTRACT are resolved here, against the value in the current
// metadata image, and committed as a SET of the result; a concurrent change
// of the same list config between the two can be overwritten. Changes to
// other configs are not affected.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/controller"
)

func handleIncrementalAlterConfigs(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	dups := make(map[configResourceKey]int)
	for _, rr := range req.Resources {
		dups[configResourceKey{rr.ResourceType, rr.ResourceName}]++
	}
	changed := false
	for _, rr := range req.Resources {
		out := kmsg.NewIncrementalAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = rr.ResourceType, rr.ResourceName
		err := h.alterTopicConfigs(ctx, &rr, dups, req.ValidateOnly)
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

func (h *Handlers) alterTopicConfigs(ctx context.Context, rr *kmsg.IncrementalAlterConfigsRequestResource, dups map[configResourceKey]int, validateOnly bool) error {
	if err := h.checkAlterResource(rr.ResourceType, rr.ResourceName, dups); err != nil {
		return err
	}
	t, err := lookupTopic(h.image(), rr.ResourceName)
	if err != nil {
		return err
	}
	overrides := maps.Clone(t.Configs)
	if overrides == nil {
		overrides = make(map[string]string)
	}
	ops := make([]controller.ConfigOp, 0, len(rr.Configs))
	seen := make(map[string]bool, len(rr.Configs))
	for _, c := range rr.Configs {
		if seen[c.Name] {
			return newRequestError(kerr.InvalidRequest, "config %s appears more than once", c.Name)
		}
		seen[c.Name] = true
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return newRequestError(kerr.InvalidRequest, "SET of config %s has a null value", c.Name)
			}
			overrides[c.Name] = *c.Value
			ops = append(ops, controller.ConfigOp{Key: c.Name, Value: c.Value, Op: controller.ConfigSet})
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(overrides, c.Name)
			ops = append(ops, controller.ConfigOp{Key: c.Name, Op: controller.ConfigDelete})
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			v, err := h.listOp(overrides, c)
			if err != nil {
				return err
			}
			overrides[c.Name] = v
			ops = append(ops, controller.ConfigOp{Key: c.Name, Value: &v, Op: controller.ConfigSet})
		default:
			return newRequestError(kerr.InvalidRequest, "config %s: unknown operation %d", c.Name, c.Op)
		}
	}
	if err := h.validateTopicOverrides(overrides); err != nil {
		return err
	}
	return h.Controller.AlterTopicConfigs(ctx, rr.ResourceName, ops, validateOnly)
}

// listOp applies APPEND or SUBTRACT to a list config, starting from its
// effective value (the override, else the broker default, else Kafka's),
// and returns the new value. APPEND adds the elements not present yet;
// SUBTRACT removes the elements given.
func (h *Handlers) listOp(overrides map[string]string, c kmsg.IncrementalAlterConfigsRequestResourceConfig) (string, error) {
	def, ok := config.LookupTopicConfig(c.Name)
	if !ok {
		return "", fmt.Errorf("%w: %s", config.ErrUnknownConfig, c.Name)
	}
	if def.Type != config.TypeList {
		return "", newRequestError(kerr.InvalidConfig, "config %s is not a list: %s only applies to list configs", c.Name, c.Op)
	}
	if c.Value == nil {
		return "", newRequestError(kerr.InvalidRequest, "%s of config %s has a null value", c.Op, c.Name)
	}
	current, ok := overrides[c.Name]
	if !ok {
		current = def.Default
		if v, set := h.topicDefaults()[c.Name]; set {
			current = v
		}
	}
	list := splitList(current)
	for _, v := range splitList(*c.Value) {
		if c.Op == kmsg.IncrementalAlterConfigOpAppend {
			if !slices.Contains(list, v) {
				list = append(list, v)
			}
		} else {
			list = slices.DeleteFunc(list, func(e string) bool { return e == v })
		}
	}
	return strings.Join(list, ","), nil
}

// splitList parses a list config value: comma-separated, blanks trimmed,
// empty elements dropped.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
