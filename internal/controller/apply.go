package controller

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// MaxPartitionsPerTopic bounds a topic's partition count so that one
// request cannot make every node build an enormous image.
const MaxPartitionsPerTopic = 100_000

func (c *setClusterIDCmd) apply(b *builder, _ uint64) applyResult {
	// The first committed id wins: a later proposal (a second leader that
	// raced, or a retry) is a no-op, so the id never changes.
	if b.next.ClusterID == "" && c.ClusterID != "" {
		b.next.ClusterID = c.ClusterID
	}
	return applyResult{}
}

func (c *createTopicsCmd) apply(b *builder, _ uint64) applyResult {
	errs := make([]error, len(c.Topics))
	total := b.partitionCount()
	for i := range c.Topics {
		if err := checkClusterPartitions(total, len(c.Topics[i].Replicas), c.MaxPartitions); err != nil {
			errs[i] = err
			continue
		}
		if errs[i] = c.Topics[i].apply(b); errs[i] == nil {
			total += len(c.Topics[i].Replicas)
		}
	}
	return applyResult{Errs: errs}
}

// checkClusterPartitions refuses adding n partitions to a cluster holding
// total when that passes limit (0: no limit).
func checkClusterPartitions(total, n, limit int) error {
	if limit > 0 && total+n > limit {
		return fmt.Errorf("%w: %d more would make %d partitions in the cluster, more than cluster.max.partitions (%d)",
			ErrInvalidPartitions, n, total+n, limit)
	}
	return nil
}

func (t *newTopic) apply(b *builder) error {
	if err := checkNewTopicName(b, t.Name); err != nil {
		return err
	}
	id := [16]byte(t.ID)
	if id == ([16]byte{}) || b.topicByID(id) != nil {
		return fmt.Errorf("%w: topic id %s is zero or already in use", ErrTopicExists, uuidString(id))
	}
	if err := checkPartitionCount(len(t.Replicas)); err != nil {
		return err
	}
	if err := checkAssignment(b, t.Replicas, 0); err != nil {
		return err
	}
	topic := &Topic{
		Name:       t.Name,
		ID:         id,
		Internal:   IsInternalTopic(t.Name),
		Partitions: make([]Partition, len(t.Replicas)),
		Configs:    cloneConfigs(t.Configs),
	}
	for i, replicas := range t.Replicas {
		topic.Partitions[i] = b.newPartition(int32(i), replicas)
	}
	b.putTopic(topic)
	return nil
}

// checkNewTopicName checks that name is legal and free.
func checkNewTopicName(b *builder, name string) error {
	if err := ValidateTopicName(name); err != nil {
		return err
	}
	if b.topic(name) != nil {
		return fmt.Errorf("%w: %q", ErrTopicExists, name)
	}
	if other := b.collision(name); other != "" {
		return fmt.Errorf("%w: %q collides with existing topic %q ('.' and '_' are interchangeable in metric names)", ErrInvalidTopicName, name, other)
	}
	return nil
}

func checkPartitionCount(n int) error {
	if n < 1 {
		return fmt.Errorf("%w: %d (must be at least 1)", ErrInvalidPartitions, n)
	}
	if n > MaxPartitionsPerTopic {
		return fmt.Errorf("%w: %d is more than the maximum %d", ErrInvalidPartitions, n, MaxPartitionsPerTopic)
	}
	return nil
}

// checkAssignment validates replica lists: each non-empty, all of the same
// length (wantRF when it is non-zero), without duplicates, naming only
// registered brokers.
func checkAssignment(b *builder, assignment [][]int32, wantRF int) error {
	for p, replicas := range assignment {
		if len(replicas) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", ErrInvalidReplicaAssignment, p)
		}
		if wantRF == 0 {
			wantRF = len(replicas)
		}
		if len(replicas) != wantRF {
			return fmt.Errorf("%w: partition %d has %d replicas, expected %d (all partitions must have the same number)",
				ErrInvalidReplicaAssignment, p, len(replicas), wantRF)
		}
		for i, id := range replicas {
			if slices.Contains(replicas[:i], id) {
				return fmt.Errorf("%w: partition %d lists broker %d twice", ErrInvalidReplicaAssignment, p, id)
			}
			if _, ok := b.broker(id); !ok {
				return fmt.Errorf("%w: partition %d names broker %d, which is not registered", ErrInvalidReplicaAssignment, p, id)
			}
		}
	}
	return nil
}

func (c *deleteTopicsCmd) apply(b *builder, _ uint64) applyResult {
	errs := make([]error, len(c.IDs))
	for i, id := range c.IDs {
		t := b.topicByID([16]byte(id))
		if t == nil {
			errs[i] = fmt.Errorf("%w: %s", ErrUnknownTopicID, uuidString(id))
			continue
		}
		b.deleteTopic(t)
	}
	return applyResult{Errs: errs}
}

func (c *createPartitionsCmd) apply(b *builder, _ uint64) applyResult {
	t := b.topicByID([16]byte(c.TopicID))
	if t == nil {
		return applyResult{Err: fmt.Errorf("%w: %s", ErrUnknownTopicID, uuidString(c.TopicID))}
	}
	current := len(t.Partitions)
	if current != int(c.Current) {
		return applyResult{Err: fmt.Errorf("%w: topic %q has %d partitions, not the %d this change was based on",
			ErrInvalidPartitions, t.Name, current, c.Current)}
	}
	if len(c.Replicas) == 0 {
		return applyResult{Err: fmt.Errorf("%w: topic %q already has %d partitions", ErrInvalidPartitions, t.Name, current)}
	}
	if err := checkPartitionCount(current + len(c.Replicas)); err != nil {
		return applyResult{Err: err}
	}
	if err := checkClusterPartitions(b.partitionCount(), len(c.Replicas), c.MaxPartitions); err != nil {
		return applyResult{Err: err}
	}
	if err := checkAssignment(b, c.Replicas, int(t.ReplicationFactor())); err != nil {
		return applyResult{Err: err}
	}
	next := *t
	next.Partitions = slices.Grow(slices.Clone(t.Partitions), len(c.Replicas))
	for i, replicas := range c.Replicas {
		next.Partitions = append(next.Partitions, b.newPartition(int32(current+i), replicas))
	}
	b.putTopic(&next)
	return applyResult{}
}

func (c *alterConfigsCmd) apply(b *builder, _ uint64) applyResult {
	t := b.topicByID([16]byte(c.TopicID))
	if t == nil {
		return applyResult{Err: fmt.Errorf("%w: %s", ErrUnknownTopicID, uuidString(c.TopicID))}
	}
	var configs map[string]string
	if c.Replace {
		for k := range c.Configs {
			if k == "" {
				return applyResult{Err: fmt.Errorf("%w: empty config name", ErrInvalidConfig)}
			}
		}
		configs = maps.Clone(c.Configs)
	} else {
		configs = maps.Clone(t.Configs)
		if configs == nil {
			configs = map[string]string{}
		}
		for _, op := range c.Ops {
			if err := applyConfigOp(configs, op); err != nil {
				return applyResult{Err: err}
			}
		}
	}
	next := *t
	next.Configs = cloneConfigs(configs)
	b.putTopic(&next)
	return applyResult{}
}

func applyConfigOp(configs map[string]string, op ConfigOp) error {
	if op.Key == "" {
		return fmt.Errorf("%w: empty config name", ErrInvalidConfig)
	}
	switch op.Op {
	case ConfigSet:
		if op.Value == nil {
			return fmt.Errorf("%w: SET of %s without a value", ErrInvalidConfig, op.Key)
		}
		configs[op.Key] = *op.Value
	case ConfigDelete:
		delete(configs, op.Key)
	default:
		return fmt.Errorf("%w: unknown operation %d on %s", ErrInvalidConfig, op.Op, op.Key)
	}
	return nil
}

func (c *allocateProducerIDsCmd) apply(b *builder, _ uint64) applyResult {
	if c.Count < 1 {
		return applyResult{Err: fmt.Errorf("%w: %d", ErrInvalidProducerIDCount, c.Count)}
	}
	first := b.next.NextProducerID
	if first > math.MaxInt64-c.Count {
		return applyResult{Err: fmt.Errorf("%w: %d ids requested, next is %d", ErrProducerIDsExhausted, c.Count, first)}
	}
	b.next.NextProducerID = first + c.Count
	return applyResult{First: first}
}

// cloneConfigs copies a config map; empty maps become nil so that images
// compare equal however they were built (fresh, replayed or restored).
func cloneConfigs(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	v := *s
	return &v
}
