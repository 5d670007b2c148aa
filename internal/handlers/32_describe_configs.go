package handlers

// DescribeConfigs (key 32).
//
// v1 adds config sources and, on request, synonyms (the other places a
// value could come from, in precedence order; KIP-226); v2 only moved
// throttling after the response; v3 adds the config type and, on request,
// documentation (KIP-569); v4 is flexible.
//
// TOPIC resources list every topic config with its effective value:
// the topic's override, else the broker's default (log.retention.ms and
// friends), else Kafka's default. BROKER resources answer for this broker
// only (its id as the name); all of its settings are static, so the empty
// name, which asks for cluster-wide dynamic defaults, gets an empty list.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
)

func handleDescribeConfigs(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.DescribeConfigsRequest) *kmsg.DescribeConfigsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	img := h.image()
	for _, rr := range req.Resources {
		out := kmsg.NewDescribeConfigsResponseResource()
		out.ResourceType, out.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []config.ConfigEntry
		var err error
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, terr := lookupTopic(img, rr.ResourceName)
			if err = terr; err == nil {
				entries = config.DescribeTopicConfigs(t.Configs, h.topicDefaults())
			}
		case kmsg.ConfigResourceTypeBroker:
			if err = h.checkBrokerResource(rr.ResourceName); err == nil && rr.ResourceName != "" {
				entries = h.brokerConfigEntries()
			}
		default:
			err = newRequestError(kerr.InvalidRequest, "describing configs of resource type %v is not supported", rr.ResourceType)
		}
		if err != nil {
			out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Resources = append(resp.Resources, out)
			continue
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			out.Configs = append(out.Configs, describeConfigEntry(req, e))
		}
		resp.Resources = append(resp.Resources, out)
	}
	return resp
}

// describeConfigEntry renders one config for the response version and the
// details the client asked for. Sensitive values are never sent.
func describeConfigEntry(req *kmsg.DescribeConfigsRequest, e config.ConfigEntry) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.ReadOnly, c.IsSensitive = e.Name, e.ReadOnly, e.Sensitive
	c.Source = kmsg.ConfigSource(e.Source)
	// v0 has no source, only whether the value is the default.
	c.IsDefault = e.Source == config.SourceDefault
	if !e.Sensitive {
		v := e.Value
		c.Value = &v
	}
	if req.IncludeSynonyms {
		for _, s := range e.Synonyms {
			syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			syn.Name, syn.Source = s.Name, kmsg.ConfigSource(s.Source)
			if !e.Sensitive {
				v := s.Value
				syn.Value = &v
			}
			c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
		}
	}
	c.ConfigType = kmsg.ConfigType(config.KafkaConfigType(e.Type))
	if req.IncludeDocumentation && e.Doc != "" {
		doc := e.Doc
		c.Documentation = &doc
	}
	return c
}

// brokerConfigEntries lists this broker's settings. Every one is static
// (from the config file, environment or flags) or the built-in default;
// the synonyms show the default beneath a configured value.
func (h *Handlers) brokerConfigEntries() []config.ConfigEntry {
	if h.Config == nil {
		return nil
	}
	def := config.Default()
	defaults := make(map[string]string)
	for _, p := range def.Properties() {
		defaults[p.Key] = p.Value
	}
	props := h.Config.Properties()
	out := make([]config.ConfigEntry, 0, len(props))
	for _, p := range props {
		e := config.ConfigEntry{
			Name: p.Key, Value: p.Value, Source: config.SourceStaticBroker,
			ReadOnly: p.ReadOnly, Sensitive: p.Sensitive, Type: p.Type, Doc: p.Doc,
		}
		if p.IsDefault {
			e.Source = config.SourceDefault
		} else {
			e.Synonyms = append(e.Synonyms, config.Synonym{Name: p.Key, Value: p.Value, Source: config.SourceStaticBroker})
		}
		if d, ok := defaults[p.Key]; ok {
			e.Synonyms = append(e.Synonyms, config.Synonym{Name: p.Key, Value: d, Source: config.SourceDefault})
		}
		out = append(out, e)
	}
	return out
}
