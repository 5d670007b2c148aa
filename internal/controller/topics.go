package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name string
	// NumPartitions is the partition count; -1 means Config.DefaultPartitions.
	NumPartitions int32
	// ReplicationFactor is the replica count per partition; -1 means
	// Config.DefaultReplicationFactor. It may not exceed the number of
	// registered brokers.
	ReplicationFactor int16
	// Assignments optionally places replicas by hand: partition index (0..n-1)
	// to broker ids, the first being the leader. When set, NumPartitions and
	// ReplicationFactor must be -1 or agree with it.
	Assignments map[int32][]int32
	// Configs are the topic's config overrides, already validated.
	Configs map[string]string
}

// CreateTopics creates topics, returning one result per spec (nil = created,
// or with validateOnly, would be created). All valid specs are committed
// as one log entry; each is still accepted or rejected on its own.
func (c *Controller) CreateTopics(ctx context.Context, specs []TopicSpec, validateOnly bool) []error {
	errs := make([]error, len(specs))
	if c.isClosed() {
		return fill(errs, ErrClosed)
	}
	img := c.Image()
	cmd := &createTopicsCmd{MaxPartitions: c.cfg.MaxPartitions}
	var pos []int // index in specs of each cmd.Topics entry
	for i, spec := range specs {
		t, err := c.planTopic(img, spec)
		if err != nil {
			errs[i] = err
			continue
		}
		cmd.Topics = append(cmd.Topics, t)
		pos = append(pos, i)
	}
	if len(cmd.Topics) == 0 {
		return errs
	}
	res, err := c.submit(ctx, cmd, validateOnly)
	for j, i := range pos {
		errs[i] = itemResult(res, err, j)
	}
	return errs
}

// planTopic turns a spec into a fully decided topic: id and placement.
func (c *Controller) planTopic(img *Image, spec TopicSpec) (newTopic, error) {
	if err := ValidateTopicName(spec.Name); err != nil {
		return newTopic{}, err
	}
	if img.Topic(spec.Name) != nil {
		return newTopic{}, fmt.Errorf("%w: %q", ErrTopicExists, spec.Name)
	}
	var replicas [][]int32
	if len(spec.Assignments) > 0 {
		var err error
		if replicas, err = manualReplicas(spec); err != nil {
			return newTopic{}, err
		}
	} else {
		n := int(spec.NumPartitions)
		if n == -1 {
			n = int(c.cfg.DefaultPartitions)
		}
		if err := checkPartitionCount(n); err != nil {
			return newTopic{}, err
		}
		rf := int(spec.ReplicationFactor)
		if rf == -1 {
			rf = int(c.cfg.DefaultReplicationFactor)
		}
		brokers, err := brokersFor(img, rf)
		if err != nil {
			return newTopic{}, err
		}
		replicas = placeReplicas(brokers, rand.IntN(len(brokers)), 0, n, rf)
	}
	id := newUUID()
	for img.TopicByID(id) != nil {
		id = newUUID()
	}
	return newTopic{Name: spec.Name, ID: id, Replicas: replicas, Configs: cloneConfigs(spec.Configs)}, nil
}

// manualReplicas checks the shape of a manual assignment (broker checks
// happen in apply) and turns it into a list indexed by partition.
func manualReplicas(spec TopicSpec) ([][]int32, error) {
	n := len(spec.Assignments)
	if spec.NumPartitions != -1 && int(spec.NumPartitions) != n {
		return nil, fmt.Errorf("%w: %d partitions requested but %d assigned", ErrInvalidReplicaAssignment, spec.NumPartitions, n)
	}
	if err := checkPartitionCount(n); err != nil {
		return nil, err
	}
	replicas := make([][]int32, n)
	for p := range replicas {
		r, ok := spec.Assignments[int32(p)]
		if !ok {
			return nil, fmt.Errorf("%w: partition %d is missing (partitions must be numbered 0 to %d)", ErrInvalidReplicaAssignment, p, n-1)
		}
		if spec.ReplicationFactor != -1 && int(spec.ReplicationFactor) != len(r) {
			return nil, fmt.Errorf("%w: partition %d has %d replicas but the replication factor is %d",
				ErrInvalidReplicaAssignment, p, len(r), spec.ReplicationFactor)
		}
		replicas[p] = slices.Clone(r)
	}
	return replicas, nil
}

// brokersFor returns the brokers eligible for new replicas, checking that
// there are at least rf of them.
func brokersFor(img *Image, rf int) ([]int32, error) {
	if rf < 1 {
		return nil, fmt.Errorf("%w: %d (must be at least 1)", ErrInvalidReplicationFactor, rf)
	}
	brokers := img.activeBrokerIDs()
	if rf > len(brokers) {
		return nil, fmt.Errorf("%w: %d is larger than the number of available brokers (%d)", ErrInvalidReplicationFactor, rf, len(brokers))
	}
	return brokers, nil
}

// placeReplicas spreads count partitions, numbered from first, round-robin
// over brokers starting at offset start: partition p gets rf consecutive
// brokers beginning at (start+p) mod n. Leaders (the first replica) and
// replicas are thereby spread evenly; the proposer picks start at random
// so that many small topics do not all lead on the lowest broker id.
func placeReplicas(brokers []int32, start, first, count, rf int) [][]int32 {
	out := make([][]int32, count)
	n := len(brokers)
	for i := range out {
		replicas := make([]int32, rf)
		for r := range replicas {
			replicas[r] = brokers[(start+first+i+r)%n]
		}
		out[i] = replicas
	}
	return out
}

// DeleteTopics deletes topics by name, one result per name.
func (c *Controller) DeleteTopics(ctx context.Context, names []string) []error {
	errs := make([]error, len(names))
	if c.isClosed() {
		return fill(errs, ErrClosed)
	}
	img := c.Image()
	ids := make([]*[16]byte, len(names))
	for i, name := range names {
		if t := img.Topic(name); t != nil {
			ids[i] = &t.ID
		} else {
			errs[i] = fmt.Errorf("%w: %q", ErrUnknownTopic, name)
		}
	}
	c.deleteTopics(ctx, ids, errs)
	for i, err := range errs {
		// The topic existed when the name was looked up but was deleted
		// before this command applied: to the caller it is just unknown.
		if errors.Is(err, ErrUnknownTopicID) {
			errs[i] = fmt.Errorf("%w: %q", ErrUnknownTopic, names[i])
		}
	}
	return errs
}

// DeleteTopicsByID deletes topics by id, one result per id; unknown ids
// give ErrUnknownTopicID.
func (c *Controller) DeleteTopicsByID(ctx context.Context, ids [][16]byte) []error {
	errs := make([]error, len(ids))
	if c.isClosed() {
		return fill(errs, ErrClosed)
	}
	img := c.Image()
	ptrs := make([]*[16]byte, len(ids))
	for i := range ids {
		if img.TopicByID(ids[i]) != nil {
			ptrs[i] = &ids[i]
		} else {
			errs[i] = fmt.Errorf("%w: %s", ErrUnknownTopicID, uuidString(ids[i]))
		}
	}
	c.deleteTopics(ctx, ptrs, errs)
	return errs
}

// deleteTopics commits the deletion of the non-nil ids, filling errs.
func (c *Controller) deleteTopics(ctx context.Context, ids []*[16]byte, errs []error) {
	cmd := &deleteTopicsCmd{}
	var pos []int
	for i, id := range ids {
		if id != nil {
			cmd.IDs = append(cmd.IDs, *id)
			pos = append(pos, i)
		}
	}
	if len(cmd.IDs) == 0 {
		return
	}
	res, err := c.submit(ctx, cmd, false)
	for j, i := range pos {
		errs[i] = itemResult(res, err, j)
	}
}

// CreatePartitions grows topic to newTotal partitions, placing the new
// ones automatically with the topic's replication factor. Shrinking (or
// "growing" to the current count) fails with ErrInvalidPartitions.
func (c *Controller) CreatePartitions(ctx context.Context, topic string, newTotal int32, validateOnly bool) error {
	return c.CreatePartitionsWithAssignments(ctx, topic, newTotal, nil, validateOnly)
}

// CreatePartitionsWithAssignments is CreatePartitions with optional manual
// placement: assignments lists the replicas of each new partition in
// order (nil means automatic), each with the topic's replication factor.
func (c *Controller) CreatePartitionsWithAssignments(ctx context.Context, topic string, newTotal int32, assignments [][]int32, validateOnly bool) error {
	if c.isClosed() {
		return ErrClosed
	}
	img := c.Image()
	t := img.Topic(topic)
	if t == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, topic)
	}
	current := len(t.Partitions)
	switch {
	case int(newTotal) < current:
		return fmt.Errorf("%w: topic %q has %d partitions; the count cannot be decreased to %d", ErrInvalidPartitions, topic, current, newTotal)
	case int(newTotal) == current:
		return fmt.Errorf("%w: topic %q already has %d partitions", ErrInvalidPartitions, topic, current)
	}
	if err := checkPartitionCount(int(newTotal)); err != nil {
		return err
	}
	add := int(newTotal) - current
	var replicas [][]int32
	if assignments != nil {
		if len(assignments) != add {
			return fmt.Errorf("%w: %d new partitions but %d assignments", ErrInvalidReplicaAssignment, add, len(assignments))
		}
		for _, r := range assignments {
			replicas = append(replicas, slices.Clone(r))
		}
	} else {
		rf := int(t.ReplicationFactor())
		brokers, err := brokersFor(img, rf)
		if err != nil {
			return err
		}
		replicas = placeReplicas(brokers, rand.IntN(len(brokers)), current, add, rf)
	}
	res, err := c.submit(ctx, &createPartitionsCmd{TopicID: t.ID, Current: int32(current), Replicas: replicas, MaxPartitions: c.cfg.MaxPartitions}, validateOnly)
	return singleResult(res, err, topic)
}

// AlterTopicConfigs applies ops, in order, to the topic's config overrides
// (IncrementalAlterConfigs). Either all ops apply or none.
func (c *Controller) AlterTopicConfigs(ctx context.Context, topic string, ops []ConfigOp, validateOnly bool) error {
	return c.alterConfigs(ctx, topic, &alterConfigsCmd{Ops: slices.Clone(ops)}, validateOnly)
}

// ReplaceTopicConfigs replaces the topic's config overrides with configs
// (the legacy AlterConfigs semantics: keys not given revert to defaults).
func (c *Controller) ReplaceTopicConfigs(ctx context.Context, topic string, configs map[string]string, validateOnly bool) error {
	return c.alterConfigs(ctx, topic, &alterConfigsCmd{Replace: true, Configs: cloneConfigs(configs)}, validateOnly)
}

func (c *Controller) alterConfigs(ctx context.Context, topic string, cmd *alterConfigsCmd, validateOnly bool) error {
	if c.isClosed() {
		return ErrClosed
	}
	t := c.Image().Topic(topic)
	if t == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, topic)
	}
	cmd.TopicID = t.ID
	res, err := c.submit(ctx, cmd, validateOnly)
	return singleResult(res, err, topic)
}

// AllocateProducerIDs reserves count consecutive producer ids and returns
// the first. Blocks never overlap and increase monotonically, across
// leaders and restarts, because the counter is replicated state.
func (c *Controller) AllocateProducerIDs(ctx context.Context, count int64) (first int64, err error) {
	res, err := c.submit(ctx, &allocateProducerIDsCmd{Count: count}, false)
	if err != nil {
		return 0, err
	}
	if res.Err != nil {
		return 0, res.Err
	}
	return res.First, nil
}

// itemResult picks item j's outcome of a batch command.
func itemResult(res applyResult, err error, j int) error {
	switch {
	case err != nil:
		return err
	case j < len(res.Errs):
		return res.Errs[j]
	default:
		return res.Err // the whole command failed (e.g. undecodable)
	}
}

// singleResult is the outcome of a single-topic command; a topic deleted
// meanwhile reads as unknown by name.
func singleResult(res applyResult, err error, topic string) error {
	if err == nil {
		err = res.Err
	}
	if errors.Is(err, ErrUnknownTopicID) {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, topic)
	}
	return err
}

func fill(errs []error, err error) []error {
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// ProducerIDAllocated reports whether id has been handed out by
// AllocateProducerIDs (id < Image.NextProducerID). The id may come from a
// block another broker reserved that this node's image has not applied
// yet (the client asked that broker for an id and then produced here), so
// it waits, bounded by ctx, for the image to pass id before answering
// false. Ids allocated before a restart stay valid: the counter is
// replicated state, restored before the broker serves.
func (c *Controller) ProducerIDAllocated(ctx context.Context, id int64) bool {
	for {
		changed := c.st.waitCh()
		if id < c.Image().NextProducerID {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		case <-c.stop:
			return false
		}
	}
}
