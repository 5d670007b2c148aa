package group

import (
	"context"
	"errors"
	"time"
)

// CommitRequest is an OffsetCommit.
type CommitRequest struct {
	Group string
	// Generation -1 with an empty MemberID commits for a group that does
	// not use the coordinator for membership (simple consumers, admin
	// tools); the group must then have no members.
	Generation int32
	MemberID   string
	InstanceID string
	// Retention (v2-v4) overrides offsets.retention.minutes for these
	// offsets; 0 means the broker's setting.
	Retention time.Duration
	Offsets   []OffsetCommit
}

// OffsetCommit is one partition's offset to commit.
type OffsetCommit struct {
	TopicPartition
	Offset      int64
	LeaderEpoch int32 // -1 if unknown
	Metadata    string
}

// CommittedOffset is a partition's committed offset; Offset is -1 (and
// LeaderEpoch -1, Metadata "") if the group has none.
type CommittedOffset struct {
	TopicPartition
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// CommitOffsets commits offsets once they are durable. It returns one
// error per offset; the second result is a group-level error that applies
// to all of them.
func (c *Coordinator) CommitOffsets(_ context.Context, req CommitRequest) ([]error, error) {
	s, err := c.shardFor(req.Group)
	if err != nil {
		return nil, err
	}
	g := s.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			// A member of a generation this coordinator does not
			// know: it must rejoin.
			s.mu.Unlock()
			return nil, ErrIllegalGeneration
		}
		if g, err = s.addGroup(req.Group, s.now()); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	s.mu.Unlock()

	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	s.mu.Lock()
	if err := s.current(g); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if err := s.checkCommitter(g, req); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	now := s.now()
	commitTime := now.UnixMilli()
	expireTime := int64(-1)
	if req.Retention > 0 {
		expireTime = now.Add(req.Retention).UnixMilli()
	}
	errs := make([]error, len(req.Offsets))
	b := newBatch(now)
	values := make(map[TopicPartition]offset, len(req.Offsets))
	for i, oc := range req.Offsets {
		if len(oc.Metadata) > s.c.cfg.MaxMetadataBytes {
			errs[i] = ErrMetadataTooLarge
			continue
		}
		v := offset{offset: oc.Offset, leaderEpoch: oc.LeaderEpoch, metadata: oc.Metadata, commitTime: commitTime, expireTime: expireTime}
		values[oc.TopicPartition] = v
		b.Add(offsetKey(g.id, oc.TopicPartition), offsetValue(v))
	}
	s.mu.Unlock()
	if b.Len() == 0 {
		return errs, nil
	}
	err = s.write(b.Build(), func(err error) {
		if err != nil || s.groups[g.id] != g {
			return
		}
		for tp, v := range values {
			g.offsets[tp] = v
		}
	})
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs, nil
}

// checkCommitter decides whether req may commit to g, as Kafka does:
// anyone may commit to an empty group with generation -1; otherwise the
// member must belong to the current generation, and not while the group
// waits for its assignment. A commit counts as a heartbeat.
func (s *shard) checkCommitter(g *group, req CommitRequest) error {
	if g.isFenced(req.MemberID, req.InstanceID) {
		return ErrFencedInstance
	}
	if req.Generation < 0 && g.state == StateEmpty {
		return nil
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		return ErrUnknownMember
	case req.Generation != g.generation:
		return ErrIllegalGeneration
	case g.state == StateCompletingRebalance:
		return ErrRebalanceInProgress
	}
	m.lastHeartbeat = s.now()
	return nil
}

// FetchOffsets returns the group's committed offsets for want, in order,
// or all of them (sorted) if want is nil.
func (c *Coordinator) FetchOffsets(groupID string, want []TopicPartition) ([]CommittedOffset, error) {
	s, err := c.shardFor(groupID)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	g := s.groups[groupID]
	var have map[TopicPartition]offset
	if g != nil && g.state != StateDead {
		have = g.offsets
	}
	if want == nil {
		want = []TopicPartition{}
		if g != nil {
			want = g.sortedTopicPartitions()
		}
	}
	out := make([]CommittedOffset, len(want))
	for i, tp := range want {
		out[i] = CommittedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1}
		if v, ok := have[tp]; ok {
			out[i].Offset, out[i].LeaderEpoch, out[i].Metadata = v.offset, v.leaderEpoch, v.metadata
		}
	}
	return out, nil
}

// DeleteOffsets deletes committed offsets (OffsetDelete). An active
// consumer group keeps the offsets of topics it subscribes to
// (ErrSubscribedToTopic for those partitions); a non-empty group of
// another protocol type refuses entirely (ErrNonEmptyGroup).
func (c *Coordinator) DeleteOffsets(_ context.Context, groupID string, tps []TopicPartition) ([]error, error) {
	if groupID == "" {
		return nil, ErrInvalidGroupID
	}
	s, err := c.shardFor(groupID)
	if err != nil {
		return nil, err
	}
	g := s.groups[groupID]
	s.mu.Unlock()
	if g == nil {
		return nil, ErrGroupNotFound
	}
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	s.mu.Lock()
	if err := s.current(g); err != nil {
		s.mu.Unlock()
		if errors.Is(err, ErrCoordinatorNotAvailable) {
			err = ErrGroupNotFound
		}
		return nil, err
	}
	if g.state != StateEmpty && g.protocolType != consumerProtocolType {
		s.mu.Unlock()
		return nil, ErrNonEmptyGroup
	}
	errs := make([]error, len(tps))
	b := newBatch(s.now())
	var deleted []TopicPartition
	for i, tp := range tps {
		if g.state != StateEmpty && g.subscribed[tp.Topic] {
			errs[i] = ErrSubscribedToTopic
			continue
		}
		if _, ok := g.offsets[tp]; ok {
			b.Add(offsetKey(g.id, tp), nil)
			deleted = append(deleted, tp)
		}
	}
	s.mu.Unlock()
	if b.Len() == 0 {
		return errs, nil
	}
	err = s.write(b.Build(), func(err error) {
		if err != nil {
			return
		}
		for _, tp := range deleted {
			delete(g.offsets, tp)
		}
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// expireOffsets deletes offsets past their retention (Kafka's rules,
// KIP-211) and removes groups left empty with no offsets, writing
// tombstones for both:
//   - an empty group with a protocol type: all its offsets, once the
//     group has been empty for the retention time;
//   - a group that only stores offsets (no protocol type): each offset
//     the retention time after its commit;
//   - a stable consumer group: offsets of topics it no longer
//     subscribes to, the retention time after their commit;
//   - offsets committed with their own retention (v2-v4) at that time.
func (c *Coordinator) expireOffsets() {
	for _, s := range c.snapshotShards() {
		s.mu.Lock()
		var groups []*group
		if s.usable() == nil {
			for _, g := range s.groups {
				groups = append(groups, g)
			}
		}
		s.mu.Unlock()
		for _, g := range groups {
			s.expireGroupOffsets(g)
		}
	}
}

func (s *shard) expireGroupOffsets(g *group) {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	s.mu.Lock()
	if s.current(g) != nil {
		s.mu.Unlock()
		return
	}
	now := s.now()
	nowMs := now.UnixMilli()
	retention := s.c.cfg.OffsetsRetention.Milliseconds()
	var base func(offset) int64
	var keep map[string]bool
	switch {
	case g.protocolType == "":
		base = func(o offset) int64 { return o.commitTime }
	case g.state == StateEmpty:
		empty := g.stateTime.UnixMilli()
		base = func(offset) int64 { return empty }
	case g.state == StateStable && g.protocolType == consumerProtocolType && g.subscribed != nil:
		base = func(o offset) int64 { return o.commitTime }
		keep = g.subscribed
	}
	b := newBatch(now)
	var expired []TopicPartition
	if base != nil {
		for _, tp := range g.sortedTopicPartitions() {
			o := g.offsets[tp]
			due := o.expireTime >= 0 && nowMs >= o.expireTime ||
				o.expireTime < 0 && nowMs-base(o) >= retention
			if due && !keep[tp.Topic] {
				b.Add(offsetKey(g.id, tp), nil)
				expired = append(expired, tp)
			}
		}
	}
	dead := g.state == StateEmpty && len(g.offsets) == len(expired) && len(g.pending) == 0
	emptySince := g.stateTime
	if dead {
		// Dead first, so nothing joins or commits while the tombstones
		// are written.
		g.transition(StateDead, now)
		b.Add(groupKey(g.id), nil)
	}
	s.mu.Unlock()
	if b.Len() == 0 {
		return
	}
	_ = s.write(b.Build(), func(err error) {
		if err != nil {
			if dead {
				g.transition(StateEmpty, emptySince)
			}
			return
		}
		for _, tp := range expired {
			delete(g.offsets, tp)
		}
		if dead {
			s.dropGroup(g)
		}
		if len(expired) > 0 || dead {
			s.c.log.Info("expired group offsets", "group", g.id, "offsets", len(expired), "group_removed", dead)
		}
	})
}
