package handlers

// CreateTopics (key 19).
//
// v1 added validate_only and per-topic error messages; v2 throttle time; v3
// only moved throttling after the response; v4 lets num_partitions and
// replication_factor be -1 for the broker defaults (KIP-464); v5 is flexible
// and answers with the topic's configs, partition count and replication
// factor (KIP-525); v6 only added quota errors (KIP-599); v7 returns the
// topic id (KIP-516).
//
// Creation is synchronous: all valid topics of a request are committed to
// the metadata log as one entry and this broker's replicas are opened
// before the response is sent, so a client can produce at once. The
// request timeout therefore has nothing to bound and is ignored.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/controller"
)

func handleCreateTopics(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	resp.Topics = make([]kmsg.CreateTopicsResponseTopic, len(req.Topics))

	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	var specs []controller.TopicSpec
	var pos []int // index in req.Topics of each spec
	for i := range req.Topics {
		rt := &req.Topics[i]
		out := &resp.Topics[i]
		*out = kmsg.NewCreateTopicsResponseTopic()
		out.Topic = rt.Topic
		var spec controller.TopicSpec
		var err error
		if seen[rt.Topic] > 1 {
			// Kafka rejects every copy: which one would win is unclear.
			err = newRequestError(kerr.InvalidRequest, "topic %q appears more than once in the request", rt.Topic)
		} else {
			spec, err = h.topicSpec(req.Version, rt)
		}
		if err != nil {
			out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
			continue
		}
		specs = append(specs, spec)
		pos = append(pos, i)
	}
	if len(specs) == 0 {
		return resp
	}

	errs := h.Controller.CreateTopics(ctx, specs, req.ValidateOnly)
	created := false
	for j, i := range pos {
		out := &resp.Topics[i]
		if errs[j] != nil {
			out.ErrorCode, out.ErrorMessage = errorCode(errs[j]), errorMessage(errs[j])
			continue
		}
		created = created || !req.ValidateOnly
	}
	if created && h.SyncReplicas != nil {
		h.SyncReplicas()
	}
	if req.Version >= 5 {
		img := h.image()
		for j, i := range pos {
			if errs[j] == nil {
				h.describeCreatedTopic(img, specs[j], req.ValidateOnly, &resp.Topics[i])
			}
		}
	}
	return resp
}

// topicSpec checks one requested topic and turns it into the controller's
// form. The controller checks names, counts and placement again against
// the state the creation is applied to; what is checked here is what only
// the protocol layer knows (versions, request shape, config validity).
func (h *Handlers) topicSpec(version int16, rt *kmsg.CreateTopicsRequestTopic) (controller.TopicSpec, error) {
	spec := controller.TopicSpec{Name: rt.Topic, NumPartitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor}
	if err := controller.ValidateTopicName(rt.Topic); err != nil {
		return spec, err
	}
	if isReservedTopicName(rt.Topic) {
		return spec, newRequestError(kerr.InvalidRequest, "topic name %q is reserved for the broker's internal topics", rt.Topic)
	}

	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return spec, newRequestError(kerr.InvalidRequest,
				"topic %q: num_partitions and replication_factor must be -1 when replicas are assigned manually", rt.Topic)
		}
		spec.Assignments = make(map[int32][]int32, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if _, dup := spec.Assignments[a.Partition]; dup {
				return spec, newRequestError(kerr.InvalidReplicaAssignment, "topic %q: partition %d is assigned twice", rt.Topic, a.Partition)
			}
			spec.Assignments[a.Partition] = a.Replicas
		}
	} else {
		// -1 (the broker default) is only meaningful from v4 on; older
		// clients never meant it.
		if rt.NumPartitions == 0 || rt.NumPartitions < -1 || (rt.NumPartitions == -1 && version < 4) {
			return spec, newRequestError(kerr.InvalidPartitions, "topic %q: number of partitions must be at least 1 (or -1 for the broker default, from CreateTopics v4), got %d", rt.Topic, rt.NumPartitions)
		}
		if rt.ReplicationFactor == 0 || rt.ReplicationFactor < -1 || (rt.ReplicationFactor == -1 && version < 4) {
			return spec, newRequestError(kerr.InvalidReplicationFactor, "topic %q: replication factor must be at least 1 (or -1 for the broker default, from CreateTopics v4), got %d", rt.Topic, rt.ReplicationFactor)
		}
	}

	if len(rt.Configs) > 0 {
		spec.Configs = make(map[string]string, len(rt.Configs))
		for _, c := range rt.Configs {
			if c.Value == nil {
				return spec, newRequestError(kerr.InvalidConfig, "topic %q: config %s has a null value", rt.Topic, c.Name)
			}
			if _, dup := spec.Configs[c.Name]; dup {
				return spec, newRequestError(kerr.InvalidRequest, "topic %q: config %s is given twice", rt.Topic, c.Name)
			}
			spec.Configs[c.Name] = *c.Value
		}
		if err := h.validateTopicOverrides(spec.Configs); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// describeCreatedTopic fills the v5+ details of a topic that was created
// (or, validating only, would be): partition count, replication factor,
// id and effective configs.
func (h *Handlers) describeCreatedTopic(img *controller.Image, spec controller.TopicSpec, validateOnly bool, out *kmsg.CreateTopicsResponseTopic) {
	overrides := spec.Configs
	if t := img.Topic(spec.Name); t != nil && !validateOnly {
		out.TopicID = t.ID
		out.NumPartitions, out.ReplicationFactor = int32(len(t.Partitions)), t.ReplicationFactor()
		overrides = t.Configs
	} else {
		// Validated only (or deleted again since): report what the
		// creation would produce.
		out.NumPartitions, out.ReplicationFactor = spec.NumPartitions, spec.ReplicationFactor
		if len(spec.Assignments) > 0 {
			out.NumPartitions = int32(len(spec.Assignments))
			out.ReplicationFactor = int16(len(spec.Assignments[0]))
		}
		if out.NumPartitions == -1 && h.Config != nil {
			out.NumPartitions = h.Config.DefaultPartitions
		}
		if out.ReplicationFactor == -1 && h.Config != nil {
			out.ReplicationFactor = h.Config.DefaultReplicationFactor
		}
	}
	for _, e := range config.DescribeTopicConfigs(overrides, h.topicDefaults()) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.ReadOnly, int8(e.Source), e.Sensitive
		if !e.Sensitive {
			v := e.Value
			c.Value = &v
		}
		out.Configs = append(out.Configs, c)
	}
}
