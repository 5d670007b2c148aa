package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ElectionType is the kind of leader election ElectLeaders runs, with
// Kafka's protocol values.
type ElectionType int8

const (
	// ElectPreferred moves leadership to the preferred (first) replica
	// when it is in sync and eligible.
	ElectPreferred ElectionType = 0
	// ElectUnclean gives an offline partition a leader, from outside the
	// ISR if need be, at the risk of losing acknowledged records.
	ElectUnclean ElectionType = 1
)

// Outcomes of an election for one partition.
var (
	// ErrElectionNotNeeded means the partition already has the leader the
	// election would give it (preferred), or has a leader (unclean).
	ErrElectionNotNeeded = errors.New("election not needed")

	// ErrPreferredLeaderNotAvailable means the preferred replica is not in
	// the ISR, or is fenced or shutting down.
	ErrPreferredLeaderNotAvailable = errors.New("preferred leader not available")

	// ErrEligibleLeadersNotAvailable means no replica of an offline
	// partition is eligible to lead.
	ErrEligibleLeadersNotAvailable = errors.New("eligible leaders not available")
)

// PartitionRef names one partition of a topic.
type PartitionRef struct {
	Topic     string
	Partition int32
}

// ElectLeaders runs a leader election of type typ for parts, as one log
// entry, and returns each partition's outcome (nil = a new leader was
// elected). With parts nil it elects wherever an election of that type
// can make a difference and reports only the partitions that got a new
// leader, as Kafka does for an all-partitions request.
func (c *Controller) ElectLeaders(ctx context.Context, typ ElectionType, parts []PartitionRef) map[PartitionRef]error {
	out := make(map[PartitionRef]error)
	if typ != ElectPreferred && typ != ElectUnclean {
		err := fmt.Errorf("unknown election type %d", typ)
		for _, ref := range parts {
			out[ref] = err
		}
		return out
	}
	all := parts == nil
	img := c.Image()
	if all {
		parts = electionCandidates(img, typ)
	}
	cmd := &electLeadersCmd{Type: typ}
	var refs []PartitionRef
	for _, ref := range parts {
		if _, dup := out[ref]; dup || slices.Contains(refs, ref) {
			continue
		}
		t := img.Topic(ref.Topic)
		if t == nil || ref.Partition < 0 || int(ref.Partition) >= len(t.Partitions) {
			out[ref] = fmt.Errorf("%w: %s-%d", ErrUnknownTopic, ref.Topic, ref.Partition)
			continue
		}
		cmd.Parts = append(cmd.Parts, partitionID{TopicID: t.ID, Partition: ref.Partition})
		refs = append(refs, ref)
	}
	if len(cmd.Parts) > 0 {
		var res applyResult
		var err error
		if c.isClosed() {
			err = ErrClosed
		} else {
			res, err = c.submit(ctx, cmd, false)
		}
		for j, ref := range refs {
			out[ref] = itemResult(res, err, j)
		}
	}
	if all {
		// Partitions that changed between the local image and the apply,
		// or were deleted, are simply not reported.
		for ref, err := range out {
			if errors.Is(err, ErrElectionNotNeeded) || errors.Is(err, ErrPreferredLeaderNotAvailable) ||
				errors.Is(err, ErrEligibleLeadersNotAvailable) || errors.Is(err, ErrUnknownTopic) {
				delete(out, ref)
			}
		}
	}
	return out
}

// electionCandidates lists the partitions where an election of type typ
// looks useful in img: the preferred replica is not the leader but could
// be (preferred), or there is no leader (unclean).
func electionCandidates(img *Image, typ ElectionType) []PartitionRef {
	b := newBuilder(img)
	var out []PartitionRef
	for _, t := range img.sorted {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			switch typ {
			case ElectPreferred:
				if preferredElectable(b, p) {
					out = append(out, PartitionRef{Topic: t.Name, Partition: p.Index})
				}
			case ElectUnclean:
				if p.Leader == -1 {
					out = append(out, PartitionRef{Topic: t.Name, Partition: p.Index})
				}
			}
		}
	}
	return out
}

// preferredElectable reports whether a preferred election would move p's
// leadership.
func preferredElectable(b *builder, p *Partition) bool {
	pref := p.Replicas[0]
	return p.Leader != pref && slices.Contains(p.ISR, pref) && b.eligible(pref)
}

// electLeadersCmd runs one election per listed partition.
type electLeadersCmd struct {
	Type  ElectionType  `json:"type"`
	Parts []partitionID `json:"partitions"`
}

// partitionID names a partition in the log by topic id, so a topic
// deleted and re-created under the same name is not confused with it.
type partitionID struct {
	TopicID   uuid  `json:"topic_id"`
	Partition int32 `json:"partition"`
}

func (*electLeadersCmd) kind() commandType { return cmdElectLeaders }

func (c *electLeadersCmd) apply(b *builder, _ uint64) applyResult {
	errs := make([]error, len(c.Parts))
	for i, ref := range c.Parts {
		t := b.topicByID([16]byte(ref.TopicID))
		if t == nil || ref.Partition < 0 || int(ref.Partition) >= len(t.Partitions) {
			errs[i] = fmt.Errorf("%w: %s partition %d", ErrUnknownTopic, uuidString(ref.TopicID), ref.Partition)
			continue
		}
		p := t.Partitions[ref.Partition]
		if errs[i] = b.elect(t, &p, c.Type); errs[i] == nil {
			b.setPartition(t, p)
		}
	}
	return applyResult{Errs: errs}
}

// elect runs one election on p (a copy it may change).
func (b *builder) elect(t *Topic, p *Partition, typ ElectionType) error {
	switch typ {
	case ElectPreferred:
		pref := p.Replicas[0]
		if p.Leader == pref {
			return fmt.Errorf("%w: %s-%d is led by its preferred replica %d", ErrElectionNotNeeded, t.Name, p.Index, pref)
		}
		if !preferredElectable(b, p) {
			return fmt.Errorf("%w: replica %d of %s-%d is not in sync, fenced or shutting down",
				ErrPreferredLeaderNotAvailable, pref, t.Name, p.Index)
		}
		setLeader(p, pref)
		return nil
	case ElectUnclean:
		if p.Leader != -1 {
			return fmt.Errorf("%w: %s-%d is led by %d", ErrElectionNotNeeded, t.Name, p.Index, p.Leader)
		}
		// An in-sync candidate, should one be eligible, loses nothing.
		if l := b.cleanLeader(p, -1); l >= 0 {
			setLeader(p, l)
			return nil
		}
		l := b.uncleanLeader(p, -1)
		if l < 0 {
			return fmt.Errorf("%w: no replica of %s-%d (%v) is registered, unfenced and not shutting down",
				ErrEligibleLeadersNotAvailable, t.Name, p.Index, p.Replicas)
		}
		setLeader(p, l)
		p.ISR = []int32{l}
		return nil
	}
	return fmt.Errorf("unknown election type %d", typ)
}
